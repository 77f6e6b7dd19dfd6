// Cluster (operators only): the members as this node sees them — health, raft role, the slots each
// owns, is receiving (a rebalance or drain in progress) and replicates (syncing ones: still
// receiving their copy) — and this node's replication backlog per replica.
import { api, ApiError } from '../api/client';
import { usePoll } from '../lib/poll';

export function Cluster() {
  const { data, error } = usePoll(
    () =>
      api.cluster().catch((e: unknown) => {
        // A single node answers 404 not_a_cluster: say so rather than show an error.
        if (e instanceof ApiError && e.code === 'not_a_cluster') return null;
        throw e;
      }),
    2000,
  );
  return (
    <section>
      <h2>Cluster</h2>
      {error && <p class="error">{error}</p>}
      {data === null && !error && (
        <p data-testid="not-a-cluster">
          This node runs alone. Start nodes with --bus-addr and --cluster-init / --join to form a
          cluster (docs/cluster.md).
        </p>
      )}
      {data && (
        <>
          <p data-testid="cluster-summary">
            {data.members.length} members, {data.members.filter((m) => m.failed).length} failed ·
            leader {data.leader ?? 'none'} · raft term {data.raft_term} · slot epoch {data.epoch} ·{' '}
            {data.replicas_per_slot} replica(s) per slot · {data.unowned_slots} unowned,{' '}
            {data.under_replicated_slots} under-replicated slots · {data.syncing_replicas} syncing
            replica role(s) · {data.migrating_slots} slot(s) moving
          </p>
          <table data-testid="cluster-members">
            <thead>
              <tr>
                <th>Member</th>
                <th>State</th>
                <th>Redis</th>
                <th>HTTP</th>
                <th>Owns</th>
                <th>Replicates</th>
              </tr>
            </thead>
            <tbody>
              {data.members.map((m) => (
                <tr key={m.id} data-testid={`member-${m.id}`}>
                  <td>
                    {m.id}
                    {m.id === data.me ? ' (this node)' : ''}
                  </td>
                  <td>
                    {m.failed ? 'failed' : m.draining ? 'draining' : 'up'}
                    {m.id === data.leader ? ', leader' : m.voter ? ', voter' : ', learner'}
                  </td>
                  <td>{m.resp_addr}</td>
                  <td>{m.http_addr}</td>
                  <td>
                    {m.owned_slots}
                    {m.incoming_slots > 0 ? ` (+${m.incoming_slots} incoming)` : ''}
                  </td>
                  <td>
                    {m.replicated_slots}
                    {m.syncing_slots > 0 ? ` (${m.syncing_slots} syncing)` : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.replication_backlog.length > 0 && (
            <table data-testid="replication-backlog">
              <thead>
                <tr>
                  <th>Replica</th>
                  <th>Changes not yet confirmed</th>
                </tr>
              </thead>
              <tbody>
                {data.replication_backlog.map((b) => (
                  <tr key={b.replica}>
                    <td>{b.replica}</td>
                    <td>{b.queued_changes}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
