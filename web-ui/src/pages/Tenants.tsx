// Tenants (operators only): each tenant's quotas beside what it uses now.
import { api } from '../api/client';
import { bytes } from '../lib/format';
import { usePoll } from '../lib/poll';

export function Tenants() {
  const { data, error } = usePoll(() => api.tenants(), 2000);
  return (
    <section>
      <h2>Tenants</h2>
      {error && <p class="error">{error}</p>}
      {data && data.tenants.length === 0 && <p>No tenants yet: POST /v1/tenants makes one.</p>}
      {data && data.tenants.length > 0 && (
        <table data-testid="tenants">
          <thead>
            <tr>
              <th>Tenant</th>
              <th>Namespaces</th>
              <th>Capacity</th>
              <th>Plugins</th>
              <th>Connections</th>
              <th>Rate</th>
            </tr>
          </thead>
          <tbody>
            {data.tenants.map((t) => (
              <tr key={t.name} data-testid={`tenant-${t.name}`}>
                <td>{t.name}</td>
                <td>
                  {t.usage.namespaces} / {t.quotas.max_namespaces}
                </td>
                <td>
                  {bytes(t.usage.capacity_bytes)} / {bytes(t.quotas.max_capacity_bytes ?? 0)}
                </td>
                <td>
                  {t.usage.plugins} / {t.quotas.max_plugins}
                </td>
                <td>
                  {t.usage.connections} / {t.quotas.max_connections}
                </td>
                <td>{t.quotas.ops_per_second ? `${t.quotas.ops_per_second}/s` : 'unlimited'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
