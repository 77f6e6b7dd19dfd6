// Experiments: pick a namespace, start an A/B experiment between eviction policies (built-ins or
// uploaded plugin versions), watch each arm's numbers and a live hit-ratio chart, read the 95 %
// interval and the verdict, then promote an arm or stop. Below it, shadow evaluation: candidates on
// ghost caches fed by a sample of the traffic, each one's estimated hit ratio beside the live one.
import { useEffect, useState } from 'preact/hooks';
import {
  api,
  ApiError,
  type ArmReport,
  type ArmSpec,
  type ExperimentReport,
  type ShadowReport,
} from '../api/client';
import { Chart } from '../Chart';
import { bytes, percent } from '../lib/format';
import { appendPoint, emptyHistory, runningLabs, type History } from '../lib/lab';
import { usePoll } from '../lib/poll';

/** The built-in eviction policies an arm or candidate may name (see docs/experiments.md). */
const BUILTIN_EVICTION = ['lru', 's3fifo', 'sieve', 'wtinylfu', 'adaptive', 'fifo'];
const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280', '#718096'];
const CHART_POINTS = 300;

interface Lab {
  experiment: ExperimentReport | null;
  shadow: ShadowReport | null;
}

/** The labs running on `ns`; asks for a report only when /metrics says there is one. */
async function loadLab(ns: string): Promise<Lab> {
  if (!ns) return { experiment: null, shadow: null };
  const running = runningLabs(await api.metricsText());
  // A lab stopped between the two requests answers 404: that is "nothing running", not an error.
  const orNull = <T,>(p: Promise<T>) =>
    p.catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    });
  const [experiment, shadow] = await Promise.all([
    running.experiments.has(ns) ? orNull(api.experiment(ns)) : null,
    running.shadows.has(ns) ? orNull(api.shadow(ns)) : null,
  ]);
  return { experiment, shadow };
}

function errorText(e: unknown): string {
  return e instanceof ApiError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}

export function Experiments() {
  const namespaces = usePoll(api.namespaces, 5000);
  const plugins = usePoll(api.plugins, 10000);
  const [ns, setNs] = useState('');
  const names = namespaces.data?.namespaces.map((n) => n.name) ?? [];
  const selected = ns || names[0] || '';
  const lab = usePoll(() => loadLab(selected), 1000, [selected]);
  const info = namespaces.data?.namespaces.find((n) => n.name === selected);
  const policies = [
    ...BUILTIN_EVICTION,
    ...(plugins.data?.plugins
      .filter((p) => p.hooks.includes('eviction'))
      .map((p) => ({ value: p.reference, label: `${p.name} ${p.id.slice(0, 12)}` })) ?? []),
  ];

  return (
    <section>
      <h2>Experiments</h2>
      {namespaces.error && <p class="error">{namespaces.error}</p>}
      {lab.error && <p class="error">{lab.error}</p>}
      <div class="inline-form">
        <label>
          namespace{' '}
          <select aria-label="experiment namespace" value={selected} onChange={(e) => setNs(e.currentTarget.value)}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        {info && (
          <span data-testid="ns-summary">
            policy {info.config.eviction ?? 'default'} · capacity {bytes(info.config.capacity_bytes ?? 0)} · shards{' '}
            {info.config.shards ?? 'auto'}
          </span>
        )}
      </div>
      {selected && (
        <>
          <ExperimentSection ns={selected} report={lab.data?.experiment ?? null} policies={policies} onChange={lab.reload} />
          <ShadowSection ns={selected} report={lab.data?.shadow ?? null} policies={policies} onChange={lab.reload} />
        </>
      )}
    </section>
  );
}

type PolicyOption = string | { value: string; label: string };

function PolicySelect({ label, value, policies, onChange }: { label: string; value: string; policies: PolicyOption[]; onChange: (v: string) => void }) {
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      {policies.map((p) =>
        typeof p === 'string' ? (
          <option key={p} value={p}>
            {p}
          </option>
        ) : (
          <option key={p.value} value={p.value}>
            {p.label}
          </option>
        ),
      )}
    </select>
  );
}

function ExperimentSection({
  ns,
  report,
  policies,
  onChange,
}: {
  ns: string;
  report: ExperimentReport | null;
  policies: PolicyOption[];
  onChange: () => void;
}) {
  const [message, setMessage] = useState<string | null>(null);
  const [ended, setEnded] = useState<ExperimentReport | null>(null);
  // The chart follows one experiment: a new start (or another namespace) begins a new history.
  const [history, setHistory] = useState<{ key: string; h: History }>({ key: '', h: emptyHistory() });
  useEffect(() => {
    if (!report) return;
    const key = `${ns}@${report.started_at_ms}`;
    const point = Object.fromEntries(report.arms.map((a) => [a.name, a.requests > 0 ? a.hit_ratio * 100 : null]));
    setHistory((prev) => ({
      key,
      h: appendPoint(prev.key === key ? prev.h : emptyHistory(), Date.now() / 1000, point, CHART_POINTS),
    }));
  }, [report]);
  useEffect(() => {
    setEnded(null);
    setMessage(null);
  }, [ns]);

  const act = async (what: () => Promise<string>) => {
    try {
      setMessage(await what());
    } catch (e) {
      setMessage(errorText(e));
    }
    onChange();
  };

  return (
    <div class="lab" data-testid="experiment">
      <h3>A/B experiment</h3>
      {message && (
        <p class="message" role="status" data-testid="experiment-message">
          {message}
        </p>
      )}
      {report ? (
        <>
          <p data-testid="experiment-state">
            running for {report.running_secs.toFixed(0)} s since {new Date(report.started_at_ms).toLocaleTimeString()}
          </p>
          <ArmTable arms={report.arms} />
          <Verdict report={report} />
          <Chart
            title="hit ratio per arm (%) since the start"
            times={history.h.times}
            series={[...history.h.series.entries()].map(([label, values], i) => ({
              label,
              values,
              color: COLORS[i % COLORS.length],
            }))}
            yRange={[0, 100]}
          />
          <PromoteControls
            report={report}
            onPromote={(arm) =>
              act(async () => {
                const p = await api.promoteArm(ns, arm);
                setEnded(p.report);
                return `promoted ${p.promoted}: ${ns} now runs ${p.eviction}`;
              })
            }
            onStop={() =>
              act(async () => {
                const final = await api.stopExperiment(ns);
                setEnded(final);
                return `stopped; ${ns} is back on its own policy`;
              })
            }
          />
          {report.notes.length > 0 && (
            <ul class="notes">
              {report.notes.map((n) => (
                <li key={n}>{n}</li>
              ))}
            </ul>
          )}
        </>
      ) : (
        <>
          <p data-testid="experiment-state">No experiment running on {ns}.</p>
          <StartExperimentForm
            policies={policies}
            onStart={(arms) =>
              act(async () => {
                await api.startExperiment(ns, { arms });
                setEnded(null);
                return `started ${arms.map((a) => a.name).join(' vs ')} on ${ns}`;
              })
            }
          />
          {ended && (
            <div data-testid="experiment-final">
              <h4>Final numbers of the last experiment</h4>
              <ArmTable arms={ended.arms} />
              <Verdict report={ended} />
            </div>
          )}
        </>
      )}
    </div>
  );
}

function latency(ns: number | null | undefined): string {
  if (ns === null || ns === undefined) return '–';
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1000).toFixed(1)} µs`;
}

function ArmTable({ arms }: { arms: ArmReport[] }) {
  return (
    <table data-testid="arms">
      <thead>
        <tr>
          <th>arm</th>
          <th>eviction</th>
          <th>weight</th>
          <th>shards</th>
          <th>requests</th>
          <th>hits</th>
          <th>hit ratio</th>
          <th>byte hit ratio</th>
          <th>mean latency</th>
          <th>p99 latency</th>
          <th>sets</th>
          <th>evictions</th>
          <th>keys</th>
          <th>capacity</th>
          <th>hook time</th>
        </tr>
      </thead>
      <tbody>
        {arms.map((a) => (
          <tr key={a.name} data-testid={`arm-${a.name}`}>
            <td>{a.name}</td>
            <td title={a.serving !== a.eviction ? `now serving ${a.serving}` : undefined}>
              {a.eviction}
              {a.serving !== a.eviction && ` (serving ${a.serving})`}
            </td>
            <td>{a.weight}</td>
            <td>{a.shards.length}</td>
            <td data-testid="requests">{a.requests}</td>
            <td data-testid="hits">{a.hits}</td>
            <td data-testid="hit-ratio">{percent(a.requests > 0 ? a.hit_ratio : null)}</td>
            <td data-testid="byte-hit-ratio">{percent(a.byte_hit_ratio)}</td>
            <td>{latency(a.latency.mean_ns)}</td>
            <td>{latency(a.latency.p99_ns)}</td>
            <td>{a.sets}</td>
            <td data-testid="evictions">{a.evictions}</td>
            <td>{a.keys}</td>
            <td>{bytes(a.capacity_bytes)}</td>
            <td data-testid="hook-time">
              {a.hook_time
                ? `${a.hook_time.calls} calls, ${latency(a.hook_time.mean_ns)}${a.hook_time.shared_with_other_namespaces ? ' (shared)' : ''}`
                : '–'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Verdict({ report }: { report: ExperimentReport }) {
  const c = report.comparison;
  const pts = (x: number) => `${(x * 100).toFixed(2)} pts`;
  return (
    <p class="verdict" data-testid="verdict">
      <strong>{report.verdict}</strong>
      {c && (
        <span data-testid="interval">
          {' '}
          · {c.leader} − {c.runner_up}: {pts(c.difference)}, {Math.round(c.confidence * 100)} % interval [
          {pts(c.ci_low)}, {pts(c.ci_high)}]
        </span>
      )}
    </p>
  );
}

function PromoteControls({
  report,
  onPromote,
  onStop,
}: {
  report: ExperimentReport;
  onPromote: (arm: string | null) => void;
  onStop: () => void;
}) {
  const [arm, setArm] = useState('');
  const winner = report.verdict.startsWith('winner: ') ? report.verdict.slice('winner: '.length) : null;
  return (
    <div class="inline-form">
      <label>
        promote{' '}
        <select aria-label="arm to promote" value={arm} onChange={(e) => setArm(e.currentTarget.value)}>
          <option value="">{winner ? `the winner (${winner})` : 'the winner (none yet)'}</option>
          {report.arms.map((a) => (
            <option key={a.name} value={a.name}>
              {a.name}
            </option>
          ))}
        </select>
      </label>
      <button onClick={() => onPromote(arm || null)} disabled={!arm && !winner}>
        Promote
      </button>
      <button onClick={onStop}>Stop experiment</button>
    </div>
  );
}

function StartExperimentForm({ policies, onStart }: { policies: PolicyOption[]; onStart: (arms: ArmSpec[]) => void }) {
  const [arms, setArms] = useState<ArmSpec[]>([
    { name: 'lru', eviction: 'lru', weight: 1 },
    { name: 's3fifo', eviction: 's3fifo', weight: 1 },
  ]);
  const update = (i: number, patch: Partial<ArmSpec>) => setArms(arms.map((a, j) => (j === i ? { ...a, ...patch } : a)));
  const submit = (e: Event) => {
    e.preventDefault();
    onStart(arms);
  };
  return (
    <form onSubmit={submit} aria-label="start experiment">
      {arms.map((a, i) => (
        <div class="inline-form" key={i}>
          <label>
            arm {i + 1} name{' '}
            <input required value={a.name} onInput={(e) => update(i, { name: e.currentTarget.value })} />
          </label>
          <label>
            eviction{' '}
            <PolicySelect label={`arm ${i + 1} eviction`} value={a.eviction} policies={policies} onChange={(v) => update(i, { eviction: v })} />
          </label>
          <label>
            weight{' '}
            <input
              type="number"
              min={1}
              required
              aria-label={`arm ${i + 1} weight`}
              value={a.weight ?? 1}
              onInput={(e) => update(i, { weight: Number(e.currentTarget.value) })}
            />
          </label>
          {arms.length > 2 && (
            <button type="button" onClick={() => setArms(arms.filter((_, j) => j !== i))}>
              Remove
            </button>
          )}
        </div>
      ))}
      <div class="inline-form">
        <button type="button" onClick={() => setArms([...arms, { name: `arm${arms.length + 1}`, eviction: 'sieve', weight: 1 }])}>
          Add arm
        </button>
        <button type="submit">Start experiment</button>
        <span class="hint">each arm gets whole shards: the weights must divide the shard count, at least 2 shards per arm</span>
      </div>
    </form>
  );
}

interface CandidateRow {
  name: string;
  eviction: string;
}

function ShadowSection({
  ns,
  report,
  policies,
  onChange,
}: {
  ns: string;
  report: ShadowReport | null;
  policies: PolicyOption[];
  onChange: () => void;
}) {
  const [candidates, setCandidates] = useState<CandidateRow[]>([
    { name: 'wtinylfu', eviction: 'wtinylfu' },
    { name: 's3fifo', eviction: 's3fifo' },
  ]);
  const [rate, setRate] = useState('0.1');
  const [message, setMessage] = useState<string | null>(null);
  const act = async (what: () => Promise<string>) => {
    try {
      setMessage(await what());
    } catch (e) {
      setMessage(errorText(e));
    }
    onChange();
  };
  const update = (i: number, patch: Partial<CandidateRow>) =>
    setCandidates(candidates.map((c, j) => (j === i ? { ...c, ...patch } : c)));
  const start = (e: Event) => {
    e.preventDefault();
    act(async () => {
      await api.startShadow(ns, { candidates, sample_rate: Number(rate) });
      return `shadow evaluation of ${candidates.map((c) => c.name).join(', ')} started`;
    });
  };

  return (
    <div class="lab" data-testid="shadow">
      <h3>Shadow evaluation</h3>
      {message && (
        <p class="message" role="status" data-testid="shadow-message">
          {message}
        </p>
      )}
      {report ? (
        <>
          <p>
            sampling {percent(report.sample_rate)} of keys · ghost capacity {bytes(report.ghost_capacity_bytes)} ·{' '}
            {report.sampled_events} events applied, {report.dropped_events} dropped
          </p>
          <table data-testid="shadow-table">
            <thead>
              <tr>
                <th>policy</th>
                <th>eviction</th>
                <th>hit ratio</th>
                <th>ghost hit ratio (raw)</th>
                <th>reads</th>
                <th>keys</th>
                <th>evictions</th>
              </tr>
            </thead>
            <tbody>
              <tr data-testid="shadow-live">
                <td>live</td>
                <td>{report.live.eviction}</td>
                <td>{percent(report.live.requests > 0 ? report.live.hit_ratio : null)}</td>
                <td>–</td>
                <td>{report.live.requests}</td>
                <td>–</td>
                <td>–</td>
              </tr>
              {report.candidates.map((c) => (
                <tr key={c.name} data-testid={`candidate-${c.name}`}>
                  <td>{c.name} (estimate)</td>
                  <td>{c.eviction}</td>
                  <td>{percent(c.sampled_requests > 0 ? c.estimated_hit_ratio : null)}</td>
                  <td>{percent(c.sampled_requests > 0 ? c.ghost_hit_ratio : null)}</td>
                  <td>{c.sampled_requests} sampled</td>
                  <td>{c.keys}</td>
                  <td>{c.evictions}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <button onClick={() => act(async () => (await api.stopShadow(ns), 'shadow evaluation stopped'))}>Stop shadow</button>
        </>
      ) : (
        <form onSubmit={start} aria-label="start shadow">
          {candidates.map((c, i) => (
            <div class="inline-form" key={i}>
              <label>
                candidate {i + 1} name{' '}
                <input required value={c.name} onInput={(e) => update(i, { name: e.currentTarget.value })} />
              </label>
              <label>
                eviction{' '}
                <PolicySelect label={`candidate ${i + 1} eviction`} value={c.eviction} policies={policies} onChange={(v) => update(i, { eviction: v })} />
              </label>
              {candidates.length > 1 && (
                <button type="button" onClick={() => setCandidates(candidates.filter((_, j) => j !== i))}>
                  Remove
                </button>
              )}
            </div>
          ))}
          <div class="inline-form">
            <button type="button" onClick={() => setCandidates([...candidates, { name: `cand${candidates.length + 1}`, eviction: 'lru' }])}>
              Add candidate
            </button>
            <label>
              sample rate <input type="number" min={0.0001} max={1} step="any" required value={rate} onInput={(e) => setRate(e.currentTarget.value)} />
            </label>
            <button type="submit">Start shadow</button>
          </div>
        </form>
      )}
    </div>
  );
}
