// Plugins: upload a .wasm module, see every version with its hooks, where it is used and its
// per-hook time and faults, and attach a version to a namespace (a hot swap on the server).
import { useState } from 'preact/hooks';
import { api, type NamespaceConfig, type PluginDetails } from '../api/client';
import { bytes, time } from '../lib/format';
import { usePoll } from '../lib/poll';

/** The namespace config field each hook is attached through. */
const HOOK_FIELD: Record<string, 'eviction' | 'admission' | 'prefetch' | 'routing'> = {
  eviction: 'eviction',
  admission: 'admission',
  prefetch: 'prefetch',
  routing: 'routing',
};

export function Plugins() {
  const plugins = usePoll(api.plugins, 2000);
  const namespaces = usePoll(api.namespaces, 5000);
  return (
    <section>
      <h2>Plugins</h2>
      {plugins.error && <p class="error">{plugins.error}</p>}
      <UploadForm onUploaded={plugins.reload} />
      {plugins.data?.plugins.length === 0 && <p>No plugins uploaded yet.</p>}
      {plugins.data?.plugins.map((p) => (
        <PluginCard
          key={p.id}
          plugin={p}
          namespaces={namespaces.data?.namespaces.map((n) => n.name) ?? []}
          onAttached={plugins.reload}
        />
      ))}
    </section>
  );
}

function UploadForm({ onUploaded }: { onUploaded: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    try {
      const uploaded = await api.uploadPlugin(name || file.name.replace(/\.wasm$/, ''), description, await file.arrayBuffer());
      setMessage(`${uploaded.created ? 'uploaded' : 'already present'}: ${uploaded.name} ${uploaded.id.slice(0, 12)}`);
      onUploaded();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} aria-label="upload plugin">
      <label>
        module (.wasm) <input type="file" accept=".wasm,application/wasm" required onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
      </label>
      <label>
        name <input value={name} placeholder="from the file name" onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        description <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <button type="submit">Upload</button>
      {message && <span class="message" role="status">{message}</span>}
    </form>
  );
}

function PluginCard({
  plugin,
  namespaces,
  onAttached,
}: {
  plugin: PluginDetails;
  namespaces: string[];
  onAttached: () => void;
}) {
  const info = plugin;
  const { used_by, metrics } = plugin;
  const hooks = info.hooks.filter((h: string) => HOOK_FIELD[h]);
  const [target, setTarget] = useState('');
  const [hook, setHook] = useState(hooks[0] ?? '');
  const [message, setMessage] = useState<string | null>(null);
  const attach = async () => {
    const ns = target || namespaces[0];
    const field = HOOK_FIELD[hook];
    if (!ns || !field) return;
    try {
      const current = await api.namespace(ns);
      const config: NamespaceConfig = { ...current.config, [field]: info.reference };
      await api.updateNamespace(ns, config);
      setMessage(`attached to ${ns} (${hook})`);
      onAttached();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div class="plugin" data-testid={`plugin-${info.name}`}>
      <h3>
        {info.name} <code title={info.id}>{info.id.slice(0, 12)}</code>
      </h3>
      <p>
        {info.description} · {bytes(info.size_bytes)} · uploaded {time(info.uploaded_at_unix_ms)} · hooks:{' '}
        {info.hooks.join(', ') || 'none'} · <span data-testid="abi-version">ABI {info.abi_version}</span>
        {info.abi_version < 2 && ' (served as before; rebuild with the current SDK for the update event)'}
      </p>
      <p data-testid="used-by">
        used by:{' '}
        {used_by.length === 0 ? 'no namespace' : used_by.map((u) => `${u.namespace} (${u.hook})`).join(', ')}
      </p>
      {Object.keys(metrics).length > 0 && (
        <table>
          <thead>
            <tr>
              <th>hook</th>
              <th>calls</th>
              <th>mean time</th>
              <th>traps</th>
              <th>deadline misses</th>
              <th>invalid answers</th>
              <th>quarantined</th>
              <th>fallback active</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(metrics).map(([h, m]) => (
              <tr key={h}>
                <td>{h}</td>
                <td>{m.calls}</td>
                <td>{m.timed_calls > 0 ? `${(m.time_ns_sum / m.timed_calls / 1000).toFixed(1)} µs` : '–'}</td>
                <td>{m.traps}</td>
                <td>{m.deadline_misses}</td>
                <td>{m.invalid_answers}</td>
                <td>{m.quarantined}</td>
                <td>{m.fallback_active}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {hooks.length > 0 && (
        <div class="inline-form">
          <label>
            attach to{' '}
            <select aria-label="namespace" value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
              {namespaces.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <label>
            as{' '}
            <select aria-label="hook" value={hook} onChange={(e) => setHook(e.currentTarget.value)}>
              {hooks.map((h: string) => (
                <option key={h} value={h}>
                  {h}
                </option>
              ))}
            </select>
          </label>
          <button onClick={attach}>Attach</button>
          {message && <span class="message">{message}</span>}
        </div>
      )}
    </div>
  );
}
