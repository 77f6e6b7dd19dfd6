// Users: the accounts that log in with a name and password (the dashboard, `AUTH user pass` on the
// Redis port), the same ones `ACL SETUSER` manages. The operator sees operator-level users; a
// tenant's admin sees its own tenant's. Passwords are set here and never shown again.
import { useState } from 'preact/hooks';
import { api, ApiError, type UserView } from '../api/client';
import { time } from '../lib/format';
import { usePoll } from '../lib/poll';

type Scope = 'read' | 'write' | 'admin';

export function Users() {
  const users = usePoll(api.users, 5000);
  const [message, setMessage] = useState<string | null>(null);
  const act = async (what: string, change: () => Promise<unknown>) => {
    try {
      await change();
      setMessage(what);
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
    users.reload();
  };
  const off = users.error && /auth_disabled|authentication is off/i.test(users.error);
  return (
    <section>
      <h2>Users</h2>
      {off ? (
        <p>Authentication is off on this node: users need an operator key (see docs/security.md).</p>
      ) : (
        users.error && <p class="error">{users.error}</p>
      )}
      {!off && (
        <UserForm
          onSaved={(what) => {
            setMessage(what);
            users.reload();
          }}
        />
      )}
      {message && (
        <p class="message" role="status">
          {message}
        </p>
      )}
      {users.data && users.data.users.length === 0 && <p>No users yet.</p>}
      {users.data && users.data.users.length > 0 && (
        <table data-testid="users">
          <thead>
            <tr>
              <th>Log in as</th>
              <th>Scope</th>
              <th>Passwords</th>
              <th>State</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {users.data.users.map((u) => (
              <UserRow key={u.login} user={u} act={act} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The highest scope a user holds (the list includes the implied ones). */
function highest(u: UserView): string {
  for (const s of ['admin', 'write', 'read'] as const) if (u.scopes.includes(s)) return s;
  return 'none';
}

function UserRow({ user, act }: { user: UserView; act: (what: string, change: () => Promise<unknown>) => void }) {
  return (
    <tr data-testid={`user-${user.name}`}>
      <td>{user.login}</td>
      <td>{highest(user)}</td>
      <td>{user.passwords}</td>
      <td>{user.enabled ? 'on' : 'off'}</td>
      <td>{time(user.created_unix_ms)}</td>
      <td>
        <button
          type="button"
          onClick={() =>
            act(`${user.name} turned ${user.enabled ? 'off' : 'on'}`, () =>
              api.putUser(user.name, { enabled: !user.enabled }),
            )
          }
        >
          {user.enabled ? 'Turn off' : 'Turn on'}
        </button>{' '}
        <button
          type="button"
          onClick={() => {
            if (confirm(`Delete ${user.login}? Its sessions end at once.`)) {
              act(`deleted ${user.name}`, () => api.deleteUser(user.name));
            }
          }}
        >
          Delete
        </button>
      </td>
    </tr>
  );
}

/** Make a user, or set an existing one's password and scope. */
function UserForm({ onSaved }: { onSaved: (what: string) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [scope, setScope] = useState<Scope>('read');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api.putUser(name.trim(), { enabled: true, scopes: [scope], passwords: [password] });
      onSaved(`saved ${name.trim()}`);
      setName('');
      setPassword('');
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} aria-label="save user">
      <label>
        name <input value={name} required onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        password{' '}
        <input
          type="password"
          value={password}
          required
          autocomplete="new-password"
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      <label>
        scope{' '}
        <select value={scope} onChange={(e) => setScope(e.currentTarget.value as Scope)}>
          <option value="read">read</option>
          <option value="write">write (and read)</option>
          <option value="admin">admin (everything)</option>
        </select>
      </label>
      <button type="submit">Save user</button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
