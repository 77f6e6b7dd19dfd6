// Browser tests of the dashboard served by a real larder binary. run-e2e.sh starts the binary and
// sets LARDER_URL; Playwright drives Debian's chromium (no browser is downloaded).
import { defineConfig } from '@playwright/test';

const baseURL = process.env.LARDER_URL;
if (!baseURL) throw new Error('LARDER_URL is not set: run the browser tests through ./run-e2e.sh');

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
