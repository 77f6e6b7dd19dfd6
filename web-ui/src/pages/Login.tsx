// The login page, shown when the node has authentication on and there is no live session: an API
// key (or the operator key), or a user's name and password (users made on the Users page, with PUT /v1/users or with ACL SETUSER), in; a
// session cookie out (HttpOnly: this page never sees it).
import { useState } from 'preact/hooks';
import { ApiError, api, type SessionInfo } from '../api/client';

type Mode = 'key' | 'password';

export function Login({ onLogin, ended }: { onLogin: (s: SessionInfo) => void; ended: boolean }) {
  const [mode, setMode] = useState<Mode>('key');
  const [key, setKey] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ready = mode === 'key' ? key.trim() !== '' : username.trim() !== '' && password !== '';
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(mode === 'key' ? await api.login(key.trim()) : await api.loginUser(username.trim(), password));
    } catch (err) {
      setError(
        err instanceof ApiError && err.code === 'invalid_credentials'
          ? mode === 'key'
            ? 'That key is not valid on this node.'
            : 'That user and password are not valid on this node.'
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };
  const input = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  return (
    <section class="login">
      <h2>Log in</h2>
      {ended && (
        <p class="notice" data-testid="session-ended">
          Your session has ended. Log in again.
        </p>
      )}
      <fieldset class="login-mode">
        <legend>Log in with</legend>
        <label>
          <input type="radio" name="mode" checked={mode === 'key'} onChange={() => setMode('key')} />
          a key
        </label>
        <label>
          <input type="radio" name="mode" checked={mode === 'password'} onChange={() => setMode('password')} />
          a user name
        </label>
      </fieldset>
      <form onSubmit={submit}>
        {mode === 'key' ? (
          <label>
            API key
            <input type="password" name="key" autocomplete="off" value={key} onInput={input(setKey)} required />
          </label>
        ) : (
          <>
            <label>
              User (tenant/user)
              <input
                type="text"
                name="username"
                autocomplete="username"
                value={username}
                onInput={input(setUsername)}
                required
              />
            </label>
            <label>
              Password
              <input
                type="password"
                name="password"
                autocomplete="current-password"
                value={password}
                onInput={input(setPassword)}
                required
              />
            </label>
          </>
        )}
        <button type="submit" disabled={busy || !ready}>
          Log in
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
