// The login page, shown when the node has authentication on and there is no live session: an API
// key (or the operator key) in, a session cookie out (HttpOnly: this page never sees it).
import { useState } from 'preact/hooks';
import { ApiError, api, type SessionInfo } from '../api/client';

export function Login({ onLogin, ended }: { onLogin: (s: SessionInfo) => void; ended: boolean }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await api.login(key.trim()));
    } catch (err) {
      setError(
        err instanceof ApiError && err.code === 'invalid_credentials'
          ? 'That key is not valid on this node.'
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="login">
      <h2>Log in</h2>
      {ended && (
        <p class="notice" data-testid="session-ended">
          Your session has ended. Log in again.
        </p>
      )}
      <form onSubmit={submit}>
        <label>
          API key
          <input
            type="password"
            name="key"
            autocomplete="off"
            value={key}
            onInput={(e) => setKey((e.target as HTMLInputElement).value)}
            required
          />
        </label>
        <button type="submit" disabled={busy || key.trim() === ''}>
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
