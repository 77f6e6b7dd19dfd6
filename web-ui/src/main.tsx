// The dashboard's shell: a header with the pages, chosen by the URL hash (#/namespaces), so the
// server only ever serves `/` and `/assets/*`.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Alerts } from './pages/Alerts';
import { Experiments } from './pages/Experiments';
import { Namespaces } from './pages/Namespaces';
import { Overview } from './pages/Overview';
import { Plugins } from './pages/Plugins';
import './style.css';

const PAGES = [
  { path: '', label: 'Overview', view: Overview },
  { path: 'namespaces', label: 'Namespaces', view: Namespaces },
  { path: 'plugins', label: 'Plugins', view: Plugins },
  { path: 'experiments', label: 'Experiments', view: Experiments },
  { path: 'alerts', label: 'Alerts', view: Alerts },
];

function currentPath(): string {
  return location.hash.replace(/^#\/?/, '');
}

function App() {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const onHash = () => setPath(currentPath());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const page = PAGES.find((p) => p.path === path) ?? PAGES[0];
  const View = page.view;
  return (
    <>
      <header>
        <h1>Larder</h1>
        <nav>
          {PAGES.map((p) => (
            <a key={p.path} href={`#/${p.path}`} class={p === page ? 'active' : ''}>
              {p.label}
            </a>
          ))}
          <a href="/docs">API docs</a>
        </nav>
      </header>
      <main>
        <View />
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
