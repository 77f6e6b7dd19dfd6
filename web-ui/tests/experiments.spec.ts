// The experiments page against a real node: an A/B experiment started from the browser, real
// traffic through the REST API, both arms' numbers moving in the page, then a promotion; and a
// shadow evaluation whose candidates' estimates appear beside the live hit ratio.
import { readFileSync } from 'node:fs';
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';

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

/** Writes `keys` keys, then reads each of them `rounds` times plus one absent key per round. */
async function traffic(request: APIRequestContext, ns: string, prefix: string, keys: number, rounds: number) {
  await writes(request, ns, prefix, keys, 8);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < keys; i++) {
      expect((await request.get(`/v1/namespaces/${ns}/keys/${prefix}-${i}`)).status()).toBe(200);
    }
    expect((await request.get(`/v1/namespaces/${ns}/keys/${prefix}-absent-${r}`)).status()).toBe(404);
  }
}

/** Writes `keys` values of `size` bytes. */
async function writes(request: APIRequestContext, ns: string, prefix: string, keys: number, size: number) {
  for (let i = 0; i < keys; i++) {
    const put = await request.put(`/v1/namespaces/${ns}/keys/${prefix}-${i}`, { data: 'v'.repeat(size) });
    expect(put.ok()).toBe(true);
  }
}

async function createLabNamespace(request: APIRequestContext, ns: string, config: object = {}) {
  const created = await request.post('/v1/namespaces', { data: { name: ns, config: { shards: 4, ...config } } });
  expect(created.status()).toBe(201);
}

test('start an experiment, watch both arms move, promote an arm', async ({ page, baseURL, request }) => {
  const problems = watch(page, baseURL!);
  const ns = `e2e-exp-${Date.now()}`;
  await createLabNamespace(request, ns);

  await page.goto('/#/experiments');
  await expect(page.getByRole('heading', { name: 'Experiments' })).toBeVisible();
  await page.getByLabel('experiment namespace').selectOption(ns);
  const section = page.getByTestId('experiment');
  await expect(section.getByTestId('experiment-state')).toContainText(`No experiment running on ${ns}`);

  const form = page.getByRole('form', { name: 'start experiment' });
  await form.getByLabel('arm 1 name').fill('lru');
  await form.getByLabel('arm 1 eviction').selectOption('lru');
  await form.getByLabel('arm 2 name').fill('s3fifo');
  await form.getByLabel('arm 2 eviction').selectOption('s3fifo');
  await form.getByRole('button', { name: 'Start experiment' }).click();
  await expect(section.getByTestId('experiment-message')).toContainText(`started lru vs s3fifo on ${ns}`);

  // The server runs it: two arms, two shards each.
  const started = await (await request.get(`/v1/namespaces/${ns}/experiment`)).json();
  expect(started.arms.map((a: { name: string; eviction: string }) => `${a.name}:${a.eviction}`)).toEqual([
    'lru:lru',
    's3fifo:s3fifo',
  ]);
  expect(started.arms.map((a: { shards: number[] }) => a.shards.length)).toEqual([2, 2]);
  const lru = section.getByTestId('arm-lru');
  const s3 = section.getByTestId('arm-s3fifo');
  await expect(lru.getByTestId('requests')).toHaveText('0');
  await expect(s3.getByTestId('requests')).toHaveText('0');

  // Real traffic: 80 keys spread over the four shards by hash, each read 5 times, and misses.
  await traffic(request, ns, 'k', 80, 5);
  const report = await (await request.get(`/v1/namespaces/${ns}/experiment`)).json();
  const byName = (n: string) => report.arms.find((a: { name: string }) => a.name === n);
  // Every read went to one arm or the other; both arms served some.
  expect(byName('lru').requests + byName('s3fifo').requests).toBe(80 * 5 + 5);
  expect(byName('lru').requests).toBeGreaterThan(0);
  expect(byName('s3fifo').requests).toBeGreaterThan(0);

  // The page catches up with exactly the server's numbers (no more traffic is coming).
  for (const [row, arm] of [
    [lru, byName('lru')],
    [s3, byName('s3fifo')],
  ] as const) {
    await expect(row.getByTestId('requests')).toHaveText(String(arm.requests));
    await expect(row.getByTestId('hits')).toHaveText(String(arm.hits));
    await expect(row.getByTestId('hit-ratio')).toHaveText(`${(arm.hit_ratio * 100).toFixed(1)}%`);
    await expect(row.getByTestId('byte-hit-ratio')).not.toHaveText('–');
  }
  await expect(section.getByTestId('verdict')).toContainText(report.verdict);
  await expect(section.getByTestId('interval')).toContainText('95 % interval');
  await expect(section.locator('.chart canvas').first()).toBeVisible();

  // Promote s3fifo by name (a handful of reads never makes a winner): the namespace now runs it.
  await section.getByLabel('arm to promote').selectOption('s3fifo');
  await section.getByRole('button', { name: 'Promote' }).click();
  await expect(section.getByTestId('experiment-message')).toContainText(`promoted s3fifo: ${ns} now runs s3fifo`);
  await expect(section.getByTestId('experiment-state')).toContainText(`No experiment running on ${ns}`);
  await expect(section.getByTestId('experiment-final').getByTestId('arm-s3fifo')).toBeVisible();
  const info = await (await request.get(`/v1/namespaces/${ns}`)).json();
  expect(info.config.eviction).toBe('s3fifo');
  // The cache kept its contents through the promotion.
  expect((await request.get(`/v1/namespaces/${ns}/keys/k-0`)).status()).toBe(200);
  expect(problems).toEqual([]);
});

test('an arm can run an uploaded plugin version', async ({ page, baseURL, request }) => {
  const wasm = process.env.LARDER_E2E_PLUGIN;
  expect(wasm, 'run-e2e.sh builds a plugin and sets LARDER_E2E_PLUGIN').toBeTruthy();
  const problems = watch(page, baseURL!);
  const uploaded = await request.post('/v1/plugins?name=e2e-exp-sieve', {
    data: readFileSync(wasm!),
    headers: { 'content-type': 'application/wasm' },
  });
  expect(uploaded.ok()).toBe(true);
  const plugin = await uploaded.json();
  const ns = `e2e-exp-plug-${Date.now()}`;
  // A small cache (1 MiB in 4 shards) so that writing 2 MiB makes both arms evict: the plugin's
  // eviction hook runs when the shard needs victims.
  await createLabNamespace(request, ns, { capacity_bytes: 1024 * 1024, max_item_size: 8192 });

  await page.goto('/#/experiments');
  await page.getByLabel('experiment namespace').selectOption(ns);
  const form = page.getByRole('form', { name: 'start experiment' });
  await form.getByLabel('arm 1 name').fill('lru');
  await form.getByLabel('arm 2 name').fill('plugin');
  await form.getByLabel('arm 2 eviction').selectOption(plugin.reference);
  await form.getByRole('button', { name: 'Start experiment' }).click();
  const section = page.getByTestId('experiment');
  await expect(section.getByTestId('arm-plugin')).toContainText(plugin.reference);

  await writes(request, ns, 'p', 512, 4096);
  for (let i = 0; i < 100; i++) await request.get(`/v1/namespaces/${ns}/keys/p-${511 - i}`);
  const report = await (await request.get(`/v1/namespaces/${ns}/experiment`)).json();
  const arm = report.arms.find((a: { name: string }) => a.name === 'plugin');
  expect(arm.eviction).toBe(plugin.reference);
  expect(arm.requests).toBeGreaterThan(0);
  expect(arm.evictions).toBeGreaterThan(0);
  expect(arm.hook_time.calls).toBeGreaterThan(0);
  await expect(section.getByTestId('arm-plugin').getByTestId('evictions')).toHaveText(String(arm.evictions));
  await expect(section.getByTestId('arm-plugin').getByTestId('requests')).toHaveText(String(arm.requests));
  await expect(section.getByTestId('arm-plugin').getByTestId('hook-time')).toContainText(`${arm.hook_time.calls} calls`);

  await section.getByRole('button', { name: 'Stop experiment' }).click();
  await expect(section.getByTestId('experiment-message')).toContainText('stopped');
  await expect(section.getByTestId('experiment-final').getByTestId('arm-plugin')).toBeVisible();
  expect((await request.get(`/v1/namespaces/${ns}/experiment`)).status()).toBe(404);
  expect(problems).toEqual([]);
});

test('an experiment the shard count cannot express is refused with the reason', async ({ page, baseURL, request }) => {
  const problems = watch(page, baseURL!);
  const ns = `e2e-exp-bad-${Date.now()}`;
  await createLabNamespace(request, ns);
  await page.goto('/#/experiments');
  await page.getByLabel('experiment namespace').selectOption(ns);
  const form = page.getByRole('form', { name: 'start experiment' });
  await form.getByRole('button', { name: 'Add arm' }).click();
  await form.getByRole('button', { name: 'Start experiment' }).click();
  await expect(page.getByTestId('experiment-message')).toContainText('invalid_experiment');
  await expect(page.getByTestId('experiment-state')).toContainText(`No experiment running on ${ns}`);
  expect((await request.get(`/v1/namespaces/${ns}/experiment`)).status()).toBe(404);
  // The refused PUT is a 400 the browser logs; nothing else may be.
  expect(problems.filter((p) => !p.includes('status of 400'))).toEqual([]);
});

test('shadow evaluation shows each candidate beside the live hit ratio', async ({ page, baseURL, request }) => {
  const problems = watch(page, baseURL!);
  const ns = `e2e-shadow-${Date.now()}`;
  await createLabNamespace(request, ns);
  await page.goto('/#/experiments');
  await page.getByLabel('experiment namespace').selectOption(ns);
  const section = page.getByTestId('shadow');
  const form = page.getByRole('form', { name: 'start shadow' });
  await form.getByLabel('candidate 1 name').fill('wtinylfu');
  await form.getByLabel('candidate 1 eviction').selectOption('wtinylfu');
  await form.getByLabel('candidate 2 name').fill('lru-ghost');
  await form.getByLabel('candidate 2 eviction').selectOption('lru');
  await form.getByLabel('sample rate').fill('1');
  await form.getByRole('button', { name: 'Start shadow' }).click();
  await expect(section.getByTestId('shadow-message')).toContainText('shadow evaluation of wtinylfu, lru-ghost started');
  await expect(section.getByTestId('candidate-wtinylfu')).toBeVisible();

  // At a sample rate of 1 every key is sampled, so the ghosts see every read.
  await traffic(request, ns, 's', 40, 3);
  const reads = 40 * 3 + 3;
  // The ghosts are fed by a background drain: wait until both have applied every sampled read.
  await expect
    .poll(async () => {
      const r = await (await request.get(`/v1/namespaces/${ns}/shadow`)).json();
      return r.candidates.map((c: { sampled_requests: number }) => c.sampled_requests);
    })
    .toEqual([reads, reads]);
  const report = await (await request.get(`/v1/namespaces/${ns}/shadow`)).json();
  expect(report.live.requests).toBe(reads);
  expect(report.dropped_events).toBe(0);
  await expect(section.getByTestId('shadow-live')).toContainText(String(reads));
  await expect(section.getByTestId('candidate-wtinylfu')).toContainText(`${reads} sampled`);
  await expect(section.getByTestId('candidate-lru-ghost')).toContainText(`${reads} sampled`);
  for (const c of report.candidates) {
    await expect(section.getByTestId(`candidate-${c.name}`)).toContainText(`${(c.estimated_hit_ratio * 100).toFixed(1)}%`);
  }

  await section.getByRole('button', { name: 'Stop shadow' }).click();
  await expect(section.getByTestId('shadow-message')).toContainText('stopped');
  await expect(page.getByRole('form', { name: 'start shadow' })).toBeVisible();
  expect((await request.get(`/v1/namespaces/${ns}/shadow`)).status()).toBe(404);
  expect(problems).toEqual([]);
});
