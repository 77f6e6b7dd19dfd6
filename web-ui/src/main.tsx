// The dashboard's shell: a header with the pages, chosen by the URL hash (#/namespaces), so the
// server only ever serves `/` and `/assets/*`.
//
// With authentication on, the shell asks the node who is logged in (GET /v1/session): without a
// live session it shows the login page, and any 401 later (the session expired, its key was
// revoked) brings the login page back. Pages that are the operator's (alerts, tenants) are shown
// to operators only; a tenant's session sees its own namespaces and plugins.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { UNAUTHORIZED_EVENT, api, setCsrfToken, type SessionInfo } from './api/client';
import { Alerts } from './pages/Alerts';
import { Experiments } from './pages/Experiments';
import { Login } from './pages/Login';
import { Namespaces } from './pages/Namespaces';
import { Overview } from './pages/Overview';
import { Plugins } from './pages/Plugins';
import { Tenants } from './pages/Tenants';
import { Users } from './pages/Users';
import { Cluster } from './pages/Cluster';
import './style.css';

const PAGES = [
  { path: '', label: 'Overview', view: Overview, operator: false },
  { path: 'namespaces', label: 'Namespaces', view: Namespaces, operator: false },
  { path: 'plugins', label: 'Plugins', view: Plugins, operator: false },
  { path: 'experiments', label: 'Experiments', view: Experiments, operator: false },
  { path: 'alerts', label: 'Alerts', view: Alerts, operator: true },
  { path: 'tenants', label: 'Tenants', view: Tenants, operator: true },
  { path: 'users', label: 'Users', view: Users, operator: false },
  { path: 'cluster', label: 'Cluster', view: Cluster, operator: true },
];

function currentPath(): string {
  return location.hash.replace(/^#\/?/, '');
}

/** Who uses the dashboard: an open node, a logged-in session, or nobody yet. */
type Access = { kind: 'checking' } | { kind: 'open' } | { kind: 'login'; ended: boolean } | { kind: 'session'; session: SessionInfo };

function App() {
  const [path, setPath] = useState(currentPath());
  const [access, setAccess] = useState<Access>({ kind: 'checking' });
  useEffect(() => {
    const onHash = () => setPath(currentPath());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    api.session().then(
      (session) => {
        // No authentication: the node serves openly (loopback, no operator key).
        if (!session.authentication) return setAccess({ kind: 'open' });
        setCsrfToken(session.csrf_token);
        setAccess({ kind: 'session', session });
      },
      () => setAccess({ kind: 'login', ended: false }),
    );
  }, []);
  useEffect(() => {
    const onUnauthorized = () =>
      setAccess((a) => (a.kind === 'session' ? { kind: 'login', ended: true } : a));
    addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    return () => removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
  }, []);

  if (access.kind === 'checking') return null;
  const loggedIn = (session: SessionInfo) => {
    setCsrfToken(session.csrf_token);
    setAccess({ kind: 'session', session });
  };
  const logout = async () => {
    try {
      await api.logout();
    } finally {
      setCsrfToken(null);
      setAccess({ kind: 'login', ended: false });
    }
  };
  const session = access.kind === 'session' ? access.session : null;
  const operator = access.kind === 'open' || (session?.operator ?? false);
  const pages = PAGES.filter((p) => operator || !p.operator);
  const page = pages.find((p) => p.path === path) ?? pages[0];
  const View = page.view;
  return (
    <>
      <header>
        <h1>Larder</h1>
        {access.kind !== 'login' && (
          <nav>
            {pages.map((p) => (
              <a key={p.path} href={`#/${p.path}`} class={p === page ? 'active' : ''}>
                {p.label}
              </a>
            ))}
            <a href="/docs">API docs</a>
          </nav>
        )}
        {session && (
          <div class="who">
            <span data-testid="who">
              {session.name}
              {session.tenant ? ` (${session.tenant})` : ''}
            </span>
            <button type="button" onClick={logout}>
              Log out
            </button>
          </div>
        )}
      </header>
      <main>
        {access.kind === 'login' ? <Login onLogin={loggedIn} ended={access.ended} /> : <View />}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
