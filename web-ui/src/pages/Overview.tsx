// Overview: health, throughput, hit ratio and memory across all namespaces, with live charts
// fed by polling /v1/namespaces once a second; CPU and persistence from /v1/node.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type NodeInfo } from '../api/client';
import { Chart } from '../Chart';
import { bytes, percent } from '../lib/format';
import { rates, sum, type Rates, type Snapshot } from '../lib/rates';

const KEEP = 120;

interface Point {
  t: number;
  r: Rates;
}

export function Overview() {
  const [healthy, setHealthy] = useState<boolean | null>(null);
  const [count, setCount] = useState(0);
  const [totals, setTotals] = useState<Snapshot | null>(null);
  const [points, setPoints] = useState<Point[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [node, setNode] = useState<NodeInfo | null>(null);
  const [opsPerCpuSec, setOpsPerCpuSec] = useState<number | null>(null);
  const [saved, setSaved] = useState<number | null>(null);
  const last = useRef<Snapshot | null>(null);
  const lastCpu = useRef<{ ops: number; cpu: number } | null>(null);

  useEffect(() => {
    let alive = true;
    const poll = async () => {
      try {
        // /v1/node is the operator's: a tenant's session sees its namespaces' numbers only.
        const [ok, list, info] = await Promise.all([
          api.health(),
          api.namespaces(),
          api.node().catch(() => null),
        ]);
        if (!alive) return;
        setNode(info);
        const ops = list.namespaces.reduce((n, ns) => n + ns.stats.hits + ns.stats.misses + ns.stats.sets, 0);
        const before = lastCpu.current;
        if (info) lastCpu.current = { ops, cpu: info.cpu_seconds };
        if (info && before && info.cpu_seconds > before.cpu && ops > before.ops) {
          setOpsPerCpuSec((ops - before.ops) / (info.cpu_seconds - before.cpu));
        }
        setSaved(
          list.namespaces.reduce(
            (n, ns) => n + Math.max(ns.stats.value_bytes_logical - ns.stats.value_bytes_stored, 0),
            0,
          ),
        );
        setHealthy(ok);
        setError(null);
        setCount(list.namespaces.length);
        const snap: Snapshot = { atMs: Date.now(), totals: sum(list.namespaces.map((n) => n.stats)) };
        const prev = last.current;
        last.current = snap;
        setTotals(snap);
        if (prev) {
          const point = { t: snap.atMs / 1000, r: rates(prev, snap) };
          setPoints((p) => [...p.slice(-(KEEP - 1)), point]);
        }
      } catch (e) {
        if (alive) {
          setHealthy(false);
          setError(e instanceof Error ? e.message : String(e));
        }
      }
    };
    poll();
    const timer = setInterval(poll, 1000);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, []);

  const latest = points.length ? points[points.length - 1].r : null;
  const times = points.map((p) => p.t);
  const t = totals?.totals;
  return (
    <section>
      <h2>Overview</h2>
      {error && <p class="error">{error}</p>}
      <div class="cards">
        <Card label="Health" value={healthy === null ? '…' : healthy ? 'healthy' : 'unreachable'} id="health" />
        <Card label="Namespaces" value={String(count)} id="namespaces" />
        <Card label="Ops/s" value={latest ? latest.opsPerSec.toFixed(1) : '–'} id="ops" />
        <Card label="Hit ratio (1 s)" value={percent(latest?.hitRatio)} id="hit-ratio" />
        <Card
          label="Hit ratio (all time)"
          value={t && t.hits + t.misses > 0 ? percent(t.hits / (t.hits + t.misses)) : '–'}
          id="hit-ratio-total"
        />
        <Card label="Memory" value={t ? `${bytes(t.bytes)} / ${bytes(t.capacity_bytes)}` : '–'} id="memory" />
        <Card
          label="Ops per CPU-second"
          value={opsPerCpuSec === null ? '–' : Math.round(opsPerCpuSec).toLocaleString('en')}
          id="ops-per-cpu"
        />
        <Card label="Saved by compression" value={saved === null ? '–' : bytes(saved)} id="compression-saved" />
        <Card label="Persistence" value={node ? persistence(node) : '…'} id="persistence" />
      </div>
      <div class="charts">
        <Chart
          title="Operations per second"
          times={times}
          series={[{ label: 'ops/s', values: points.map((p) => p.r.opsPerSec), color: '#2b6cb0' }]}
        />
        <Chart
          title="Hit ratio %"
          times={times}
          yRange={[0, 100]}
          series={[
            {
              label: 'hit ratio',
              values: points.map((p) => (p.r.hitRatio === null ? null : p.r.hitRatio * 100)),
              color: '#2f855a',
            },
          ]}
        />
        <Chart
          title="Memory % of capacity"
          times={times}
          yRange={[0, 100]}
          series={[{ label: 'memory', values: points.map((p) => p.r.memoryShare * 100), color: '#c05621' }]}
        />
      </div>
    </section>
  );
}

/** One line on how the node keeps its data. */
function persistence(node: NodeInfo): string {
  const p = node.persistence;
  if (!p) return 'memory only';
  const parts = [];
  const ago = Math.max(0, Math.round(Date.now() / 1000 - p.last_save_unix_secs));
  parts.push(p.last_save_ok ? `snapshot ${ago} s ago` : 'last snapshot failed');
  if (p.append_log) parts.push(`log ${p.append_log}${p.append_log_ok === false ? ' (failing)' : ''}`);
  if (p.encryption_key_id != null) parts.push(`encrypted (key ${p.encryption_key_id})`);
  return parts.join(' · ');
}

function Card({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div class="card" data-testid={`card-${id}`}>
      <div class="card-label">{label}</div>
      <div class="card-value">{value}</div>
    </div>
  );
}
