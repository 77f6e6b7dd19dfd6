// The dashboard against a real node: pages load from the binary, show live numbers, and drive the
// admin API; no page logs a console error or loads anything from another origin.
import { expect, test, type Page } from '@playwright/test';

/** Collect console errors, page errors and requests that leave the node. */
function watch(page: Page, baseURL: string) {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(baseURL) && !url.startsWith('data:')) problems.push(`external request: ${url}`);
  });
  return problems;
}

test('overview shows health and live numbers from the node', async ({ page, baseURL, request }) => {
  const problems = watch(page, baseURL!);
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByTestId('card-health')).toContainText('healthy');
  await expect(page.getByTestId('card-namespaces')).not.toContainText('0');

  // Real traffic through the REST API: a write and reads that hit. The all-time hit ratio and
  // the ops/s card must reflect it.
  expect((await request.put('/v1/namespaces/default/keys/e2e-hot', { data: 'v' })).ok()).toBe(true);
  for (let i = 0; i < 30; i++) {
    expect((await request.get('/v1/namespaces/default/keys/e2e-hot')).ok()).toBe(true);
  }
  await expect(page.getByTestId('card-hit-ratio-total')).toContainText('100.0%');
  await expect(page.getByTestId('card-ops')).not.toHaveText(/–/);
  await expect(page.locator('.chart canvas').first()).toBeVisible();
  expect(problems).toEqual([]);
});

test('overview shows ops per CPU-second, bytes saved by compression and how data is kept', async ({
  page,
  baseURL,
  request,
}) => {
  const problems = watch(page, baseURL!);
  const name = `e2e-zstd-${Date.now()}`;
  const created = await request.post('/v1/namespaces', {
    data: { name, config: { compression: { codec: 'zstd', level: 3, min_bytes: 128, min_savings: 0.1 } } },
  });
  expect(created.status()).toBe(201);
  await page.goto('/');
  // The end-to-end node runs with --no-persist.
  await expect(page.getByTestId('card-persistence')).toContainText('memory only');
  // 64 KiB of repetitive JSON compresses to a small fraction: the saving is tens of KiB.
  const doc = JSON.stringify(Array.from({ length: 1500 }, (_, i) => ({ id: i % 7, tag: 'dashboard' })));
  expect((await request.put(`/v1/namespaces/${name}/keys/doc`, { data: doc })).ok()).toBe(true);
  expect(await (await request.get(`/v1/namespaces/${name}/keys/doc`)).text()).toBe(doc);
  await expect(page.getByTestId('card-compression-saved')).toContainText('KiB');
  for (let i = 0; i < 50; i++) {
    expect((await request.get(`/v1/namespaces/${name}/keys/doc`)).ok()).toBe(true);
  }
  await expect(page.getByTestId('card-ops-per-cpu')).toHaveText(/Ops per CPU-second\s*[\d,]+/);
  expect((await request.delete(`/v1/namespaces/${name}`)).ok()).toBe(true);
  expect(problems).toEqual([]);
});

test('create a namespace, then edit its capacity and TTL', async ({ page, baseURL, request }) => {
  const problems = watch(page, baseURL!);
  const name = `e2e-${Date.now()}`;
  await page.goto('/#/namespaces');
  const form = page.getByRole('form', { name: 'create namespace' });
  await form.getByLabel('name', { exact: true }).fill(name);
  await form.getByLabel('capacity (MiB)').fill('32');
  await form.getByLabel('default TTL (s)').fill('60');
  await form.getByRole('button', { name: 'Create namespace' }).click();
  await expect(page.getByRole('status')).toContainText(`created ${name}`);
  const row = page.getByTestId(`ns-${name}`);
  await expect(row).toContainText('32.0 MiB');

  const created = await (await request.get(`/v1/namespaces/${name}`)).json();
  expect(created.config.capacity_bytes).toBe(32 * 1024 * 1024);
  expect(created.config.default_ttl_secs).toBe(60);

  await row.getByRole('button', { name: 'Edit' }).click();
  const edit = page.getByTestId(`ns-edit-${name}`);
  await edit.getByLabel('capacity (MiB)').fill('16');
  await edit.getByLabel('default TTL (s)').fill('120');
  await edit.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId(`ns-${name}`)).toContainText('16.0 MiB');

  const edited = await (await request.get(`/v1/namespaces/${name}`)).json();
  expect(edited.config.capacity_bytes).toBe(16 * 1024 * 1024);
  expect(edited.config.default_ttl_secs).toBe(120);
  expect(problems).toEqual([]);
});

test('alerts page adds a rule and shows it firing on real misses', async ({ page, baseURL, request }) => {
  const problems = watch(page, baseURL!);
  await page.goto('/#/alerts');
  await expect(page.getByTestId('alerts-active')).toContainText('Nothing firing.');
  const form = page.getByRole('form', { name: 'add alert rule' });
  await form.getByLabel('name', { exact: true }).fill('e2e-cold');
  await form.getByLabel('namespace', { exact: true }).fill('default');
  await form.getByLabel('window (s)').fill('1');
  await form.getByLabel('cool-down (s)').fill('1');
  await form.getByRole('button', { name: 'Add rule' }).click();
  await expect(page.getByTestId('alert-rules')).toContainText('e2e-cold');

  // Misses until the node's evaluator fires (min_reads defaults to 100).
  await expect(async () => {
    for (let i = 0; i < 150; i++) await request.get(`/v1/namespaces/default/keys/e2e-absent-${i}`);
    await expect(page.getByTestId('alerts-active')).toContainText('e2e-cold', { timeout: 3000 });
  }).toPass({ timeout: 45_000 });
  // Reads of a missing key are 404s by design; that is the API, not a page error.
  expect(problems).toEqual([]);
});

test('upload a plugin and attach it to a namespace', async ({ page, baseURL, request }) => {
  const wasm = process.env.LARDER_E2E_PLUGIN;
  expect(wasm, 'run-e2e.sh builds a plugin and sets LARDER_E2E_PLUGIN').toBeTruthy();
  const problems = watch(page, baseURL!);
  const ns = `e2e-plug-${Date.now()}`;
  expect((await request.post('/v1/namespaces', { data: { name: ns } })).status()).toBe(201);

  await page.goto('/#/plugins');
  const form = page.getByRole('form', { name: 'upload plugin' });
  await form.getByLabel('module (.wasm)').setInputFiles(wasm!);
  await form.getByLabel('name', { exact: true }).fill('e2e-sieve');
  await form.getByRole('button', { name: 'Upload' }).click();
  await expect(form.getByRole('status')).toContainText('e2e-sieve');

  const card = page.getByTestId('plugin-e2e-sieve');
  await expect(card).toContainText('eviction');
  await expect(card.getByTestId('abi-version')).toHaveText('ABI 4');
  await expect(card.getByTestId('used-by')).toContainText('no namespace');
  await card.getByLabel('namespace').selectOption(ns);
  await card.getByLabel('hook').selectOption('eviction');
  await card.getByRole('button', { name: 'Attach' }).click();
  await expect(card.getByTestId('used-by')).toContainText(`${ns} (eviction)`);

  // The server now serves the namespace with the plugin: its config names the version.
  const list = await (await request.get('/v1/plugins')).json();
  const uploaded = list.plugins.find((p: { name: string }) => p.name === 'e2e-sieve');
  const info = await (await request.get(`/v1/namespaces/${ns}`)).json();
  expect(info.config.eviction).toBe(uploaded.reference);
  expect(problems).toEqual([]);
});
