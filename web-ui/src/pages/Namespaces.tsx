// Namespaces: every namespace's config and live stats; create one; edit capacity, TTL and policy.
import { useState } from 'preact/hooks';
import { api, type NamespaceConfig, type NamespaceInfo } from '../api/client';
import { bytes, percent } from '../lib/format';
import { usePoll } from '../lib/poll';

const BUILTIN_POLICIES = ['lru', 'sieve', 's3fifo', 'lfu', 'fifo'];
const MIB = 1024 * 1024;

type Eviction = NamespaceConfig['eviction'];

function evictionText(e: Eviction | undefined): string {
  return typeof e === 'string' ? e : JSON.stringify(e ?? '');
}

export function Namespaces() {
  const { data, error, reload } = usePoll(api.namespaces, 1000);
  const [editing, setEditing] = useState<string | null>(null);
  return (
    <section>
      <h2>Namespaces</h2>
      {error && <p class="error">{error}</p>}
      <CreateForm onCreated={reload} />
      <datalist id="policies">
        {BUILTIN_POLICIES.map((p) => (
          <option value={p} key={p} />
        ))}
      </datalist>
      <table data-testid="namespaces-table">
        <thead>
          <tr>
            <th>name</th>
            <th>policy</th>
            <th>keys</th>
            <th>memory</th>
            <th>capacity</th>
            <th>TTL (s)</th>
            <th>hit ratio</th>
            <th>hits</th>
            <th>misses</th>
            <th>evictions</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.namespaces.map((ns) =>
            editing === ns.name ? (
              <EditRow ns={ns} key={ns.name} onDone={() => (setEditing(null), reload())} />
            ) : (
              <tr key={ns.name} data-testid={`ns-${ns.name}`}>
                <td>{ns.name}</td>
                <td>{ns.policy}</td>
                <td>{ns.stats.keys}</td>
                <td>{bytes(ns.stats.bytes)}</td>
                <td>{bytes(ns.config.capacity_bytes ?? 0)}</td>
                <td>{ns.config.default_ttl_secs ?? 0}</td>
                <td>{percent(ns.stats.hits + ns.stats.misses > 0 ? ns.stats.hit_ratio : null)}</td>
                <td>{ns.stats.hits}</td>
                <td>{ns.stats.misses}</td>
                <td>{ns.stats.evictions}</td>
                <td>
                  <button onClick={() => setEditing(ns.name)}>Edit</button>
                </td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </section>
  );
}

function CreateForm({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [capacityMib, setCapacityMib] = useState('64');
  const [ttl, setTtl] = useState('0');
  const [policy, setPolicy] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const config: NamespaceConfig = {
      capacity_bytes: Math.round(Number(capacityMib) * MIB),
      default_ttl_secs: Number(ttl),
    };
    if (policy) config.eviction = policy as Eviction;
    try {
      await api.createNamespace({ name, config });
      setMessage(`created ${name}`);
      setName('');
      onCreated();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} aria-label="create namespace">
      <label>
        name <input name="name" value={name} required onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        capacity (MiB){' '}
        <input name="capacity" type="number" min="1" value={capacityMib} onInput={(e) => setCapacityMib(e.currentTarget.value)} />
      </label>
      <label>
        default TTL (s) <input name="ttl" type="number" min="0" value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} />
      </label>
      <label>
        policy <input name="policy" list="policies" placeholder="default" value={policy} onInput={(e) => setPolicy(e.currentTarget.value)} />
      </label>
      <button type="submit">Create namespace</button>
      {message && <span class="message" role="status">{message}</span>}
    </form>
  );
}

function EditRow({ ns, onDone }: { ns: NamespaceInfo; onDone: () => void }) {
  const [capacityMib, setCapacityMib] = useState(String((ns.config.capacity_bytes ?? 0) / MIB));
  const [ttl, setTtl] = useState(String(ns.config.default_ttl_secs ?? 0));
  const [policy, setPolicy] = useState(evictionText(ns.config.eviction));
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    const config: NamespaceConfig = {
      ...ns.config,
      capacity_bytes: Math.round(Number(capacityMib) * MIB),
      default_ttl_secs: Number(ttl),
      eviction: policy as Eviction,
    };
    try {
      await api.updateNamespace(ns.name, config);
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <tr data-testid={`ns-edit-${ns.name}`}>
      <td>{ns.name}</td>
      <td>
        <input aria-label="policy" list="policies" value={policy} onInput={(e) => setPolicy(e.currentTarget.value)} />
      </td>
      <td colSpan={2} />
      <td>
        <input aria-label="capacity (MiB)" type="number" value={capacityMib} onInput={(e) => setCapacityMib(e.currentTarget.value)} />
      </td>
      <td>
        <input aria-label="default TTL (s)" type="number" value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} />
      </td>
      <td colSpan={4}>{error && <span class="error">{error}</span>}</td>
      <td>
        <button onClick={save}>Save</button> <button onClick={onDone}>Cancel</button>
      </td>
    </tr>
  );
}
