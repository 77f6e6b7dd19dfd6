// Alerts: what is firing, what resolved recently, the rules, and whether notifiers deliver.
import { useState } from 'preact/hooks';
import { api, type Alert, type AlertRule } from '../api/client';
import { percent, time } from '../lib/format';
import { usePoll } from '../lib/poll';

export function Alerts() {
  const alerts = usePoll(api.alerts, 2000);
  const rules = usePoll(api.alertRules, 5000);
  return (
    <section>
      <h2>Alerts</h2>
      {alerts.error && <p class="error">{alerts.error}</p>}
      <h3>Active</h3>
      <AlertTable alerts={alerts.data?.active ?? []} testid="alerts-active" empty="Nothing firing." />
      <h3>Recently resolved</h3>
      <AlertTable alerts={alerts.data?.recent ?? []} testid="alerts-recent" empty="No resolved alerts yet." />
      <h3>Rules</h3>
      <RuleForm onCreated={rules.reload} />
      <table data-testid="alert-rules">
        <thead>
          <tr>
            <th>name</th>
            <th>namespace</th>
            <th>condition</th>
            <th>severity</th>
            <th>window</th>
            <th>cool-down</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rules.data?.rules.map((r) => (
            <tr key={r.name}>
              <td>{r.name}</td>
              <td>{r.namespace ?? 'every namespace'}</td>
              <td>{describe(r)}</td>
              <td>{r.severity}</td>
              <td>{r.window_secs}s</td>
              <td>{r.cooldown_secs}s</td>
              <td>
                <button onClick={() => api.deleteAlertRule(r.name).then(rules.reload, rules.reload)}>Delete</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Notifiers</h3>
      <table data-testid="notifiers">
        <thead>
          <tr>
            <th>target</th>
            <th>sent</th>
            <th>failed</th>
            <th>dropped (rate limit)</th>
            <th>last error</th>
          </tr>
        </thead>
        <tbody>
          {alerts.data?.notifiers.map((n) => (
            <tr key={n.target}>
              <td>{n.target}</td>
              <td>{n.sent}</td>
              <td>{n.failed}</td>
              <td>{n.dropped}</td>
              <td>{n.last_error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {alerts.data?.notifiers.length === 0 && <p>No notifiers configured (see the [alerts] config section).</p>}
    </section>
  );
}

function describe(r: AlertRule): string {
  const c = r.condition;
  switch (c.kind) {
    case 'hit_ratio_below':
      return `hit ratio below ${percent(c.threshold)} (at least ${c.min_reads ?? 100} reads)`;
    case 'memory_above':
      return `memory above ${percent(c.share)} of capacity`;
    case 'member_down':
      return 'a cluster member is down';
    case 'replication_backlog_above':
      return `more than ${c.changes} changes waiting for a replica`;
  }
}

function AlertTable({ alerts, testid, empty }: { alerts: Alert[]; testid: string; empty: string }) {
  if (alerts.length === 0) return <p data-testid={testid}>{empty}</p>;
  return (
    <table data-testid={testid}>
      <thead>
        <tr>
          <th>severity</th>
          <th>rule</th>
          <th>namespace</th>
          <th>summary</th>
          <th>started</th>
          <th>resolved</th>
        </tr>
      </thead>
      <tbody>
        {alerts.map((a) => (
          <tr key={`${a.rule}/${a.namespace}/${a.started_at_ms}`} class={`sev-${a.severity}`}>
            <td>{a.severity}</td>
            <td>{a.rule}</td>
            <td>{a.namespace}</td>
            <td>{a.summary}</td>
            <td>{time(a.started_at_ms)}</td>
            <td>{time(a.resolved_at_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RuleForm({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [namespace, setNamespace] = useState('');
  const [kind, setKind] = useState<'hit_ratio_below' | 'memory_above'>('hit_ratio_below');
  const [threshold, setThreshold] = useState('50');
  const [severity, setSeverity] = useState<AlertRule['severity']>('warning');
  const [windowSecs, setWindowSecs] = useState('300');
  const [cooldownSecs, setCooldownSecs] = useState('300');
  const [message, setMessage] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const ratio = Number(threshold) / 100;
    const rule: AlertRule = {
      name,
      namespace: namespace || undefined,
      condition: kind === 'hit_ratio_below' ? { kind, threshold: ratio } : { kind, share: ratio },
      severity,
      window_secs: Number(windowSecs),
      cooldown_secs: Number(cooldownSecs),
    };
    try {
      await api.createAlertRule(rule);
      setMessage(`added ${name}`);
      setName('');
      onCreated();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} aria-label="add alert rule">
      <label>
        name <input value={name} required onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        namespace <input value={namespace} placeholder="every namespace" onInput={(e) => setNamespace(e.currentTarget.value)} />
      </label>
      <label>
        condition{' '}
        <select value={kind} onChange={(e) => setKind(e.currentTarget.value as typeof kind)}>
          <option value="hit_ratio_below">hit ratio below %</option>
          <option value="memory_above">memory above % of capacity</option>
        </select>
      </label>
      <label>
        % <input type="number" min="0" max="100" value={threshold} onInput={(e) => setThreshold(e.currentTarget.value)} />
      </label>
      <label>
        severity{' '}
        <select value={severity} onChange={(e) => setSeverity(e.currentTarget.value as AlertRule['severity'])}>
          <option value="info">info</option>
          <option value="warning">warning</option>
          <option value="critical">critical</option>
        </select>
      </label>
      <label>
        window (s) <input type="number" min="1" value={windowSecs} onInput={(e) => setWindowSecs(e.currentTarget.value)} />
      </label>
      <label>
        cool-down (s) <input type="number" min="0" value={cooldownSecs} onInput={(e) => setCooldownSecs(e.currentTarget.value)} />
      </label>
      <button type="submit">Add rule</button>
      {message && <span class="message" role="status">{message}</span>}
    </form>
  );
}
