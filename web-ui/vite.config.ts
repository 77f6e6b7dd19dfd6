// The dashboard is served by the larder binary at `/` with assets under `/assets/`, so the build
// uses absolute paths and one flat assets folder. `npm run dev` proxies the API to a local node.
import { defineConfig } from 'vite';

const api = process.env.LARDER_HTTP ?? 'http://127.0.0.1:8390';

export default defineConfig({
  base: '/',
  build: { outDir: 'dist', assetsDir: 'assets', emptyOutDir: true, sourcemap: false },
  server: {
    proxy: { '/v1': api, '/healthz': api, '/metrics': api, '/openapi.json': api },
  },
  test: { include: ['src/**/*.test.ts'] },
});
