// The dashboard on a node with authentication on (run-e2e.sh starts it with an operator key and
// 4-second sessions): login, logout, a tenant's view that shows nothing of another tenant's, and a
// session that expires.
import { connect } from 'node:net';
import { expect, test, type APIRequestContext } from '@playwright/test';

const authURL = process.env.LARDER_AUTH_URL;
const operatorKey = process.env.LARDER_OPERATOR_KEY;
if (!authURL || !operatorKey) throw new Error('run the browser tests through ./run-e2e.sh');

test.use({ baseURL: authURL });

/** Send `commands` (each a list of arguments) to the node's Redis port as the operator; returns
 * everything it answered once it has answered each (one line per reply, as these are). */
async function redis(commands: string[][]): Promise<string> {
  const [host, port] = (process.env.LARDER_AUTH_RESP ?? '').split(':');
  if (!port) throw new Error('run-e2e.sh exports LARDER_AUTH_RESP');
  const all = [['AUTH', operatorKey!], ...commands];
  const frame = (args: string[]) =>
    `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host, () => socket.write(all.map(frame).join('')));
    let got = '';
    socket.on('data', (chunk) => {
      got += chunk.toString();
      if (got.split('\r\n').length > all.length) {
        socket.end();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
}

const asOperator = { authorization: `Bearer ${operatorKey}` };

/** Make a tenant with an admin key through the admin API; returns the key. */
async function tenant(request: APIRequestContext, name: string): Promise<string> {
  const made = await request.post(`${authURL}/v1/tenants`, { headers: asOperator, data: { name } });
  expect(made.status(), await made.text()).toBe(201);
  const key = await request.post(`${authURL}/v1/api-keys`, {
    headers: asOperator,
    data: { name: `${name}-admin`, scopes: ['admin'], tenant: name },
  });
  expect(key.status()).toBe(201);
  return (await key.json()).key as string;
}

test('a wrong key is refused, the operator logs in, and logging out ends the session', async ({
  page,
  context,
}) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  await expect(page.getByRole('navigation')).toHaveCount(0);

  await page.getByLabel('API key').fill('lk_000000000000_not-a-key');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('not valid');

  await page.getByLabel('API key').fill(operatorKey!);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByTestId('who')).toHaveText('operator');
  await expect(page.getByRole('link', { name: 'Tenants' })).toBeVisible();

  // The cookie is out of the page's reach and never sent cross-site.
  const cookie = (await context.cookies()).find((c) => c.name === 'larder_session');
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe('Strict');
  expect(await page.evaluate(() => document.cookie)).not.toContain('larder_session');

  // A change through the page carries the CSRF token: creating a namespace works.
  await page.getByRole('link', { name: 'Namespaces' }).click();
  const name = `e2e-login-${Date.now()}`;
  const form = page.getByRole('form', { name: 'create namespace' });
  await form.getByLabel('name', { exact: true }).fill(name);
  await form.getByLabel('capacity (MiB)').fill('32');
  await form.getByRole('button', { name: 'Create namespace' }).click();
  await expect(page.getByTestId(`ns-${name}`)).toBeVisible();
  // The same change from outside the page, with the cookie but without the token, is refused.
  const forged = await page.request.post('/v1/namespaces', { data: { name: `${name}-forged` } });
  expect(forged.status()).toBe(403);
  expect((await forged.json()).error.code).toBe('csrf_failed');

  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  const after = await page.request.get('/v1/namespaces');
  expect(after.status()).toBe(401);
});

test("a tenant's session shows its own namespaces and nothing of another tenant's", async ({
  page,
  request,
}) => {
  const run = Date.now();
  const a = await tenant(request, `e2e-a-${run}`);
  const b = await tenant(request, `e2e-b-${run}`);
  const made = await request.post(`${authURL}/v1/namespaces`, {
    headers: { authorization: `Bearer ${b}` },
    data: { name: 'b-private' },
  });
  expect(made.status()).toBe(201);

  await page.goto('/');
  await page.getByLabel('API key').fill(a);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toHaveText(`e2e-a-${run}-admin (e2e-a-${run})`);
  // Operator pages are not offered to a tenant.
  await expect(page.getByRole('link', { name: 'Tenants' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Alerts' })).toHaveCount(0);

  await page.getByRole('link', { name: 'Namespaces' }).click();
  await expect(page.getByTestId('ns-default')).toBeVisible();
  await expect(page.getByTestId('namespaces-table')).not.toContainText('b-private');
  // Asking for B's namespace by either of its names finds nothing, exactly as a missing name.
  for (const path of ['/v1/namespaces/b-private', `/v1/namespaces/e2e-b-${run}%2Fb-private`]) {
    const refused = await page.request.get(path);
    expect(refused.status(), path).toBe(404);
    expect((await refused.json()).error.code).toBe('namespace_not_found');
  }
  const tenants = await page.request.get('/v1/tenants');
  expect(tenants.status()).toBe(403);
});

test('a user made with ACL SETUSER logs in with its name and password', async ({ page, request }) => {
  const run = Date.now();
  await tenant(request, `e2e-u-${run}`);
  const answered = await redis([['ACL', 'SETUSER', `e2e-u-${run}/dana`, 'on', '>a long passphrase', '+@write']]);
  expect(answered).toBe('+OK\r\n+OK\r\n');

  await page.goto('/');
  await page.getByLabel('a user name').check();
  await page.getByLabel('User (tenant/user)').fill(`e2e-u-${run}/dana`);
  await page.getByLabel('Password').fill('not the passphrase');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('not valid');

  await page.getByLabel('Password').fill('a long passphrase');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('who')).toHaveText(`dana (e2e-u-${run})`);
  await expect(page.getByRole('link', { name: 'Tenants' })).toHaveCount(0);
});

test('an expired session brings the login page back', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('API key').fill(operatorKey!);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  // Sessions on this node last 4 s; the overview polls every second, so the next poll after the
  // expiry is answered 401 and the login page returns, saying why.
  await expect(page.getByTestId('session-ended')).toBeVisible({ timeout: 15_000 });
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
});

test('the operator makes a user on the Users page, it logs in, and deleting it ends that', async ({ page }) => {
  const name = `e2e-user-${Date.now()}`;
  const operatorLogin = async () => {
    await page.goto('/');
    await page.getByLabel('API key').fill(operatorKey!);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByTestId('who')).toHaveText('operator');
    await page.getByRole('link', { name: 'Users' }).click();
  };
  const userLogin = async (password: string) => {
    await page.getByLabel('a user name').check();
    await page.getByLabel('User (tenant/user)').fill(name);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
  };

  await operatorLogin();
  const form = page.getByRole('form', { name: 'save user' });
  await form.getByLabel('name').fill(name);
  await form.getByLabel('password').fill('a passphrase for the page');
  await form.getByLabel('scope').selectOption('write');
  await form.getByRole('button', { name: 'Save user' }).click();
  const row = page.getByTestId(`user-${name}`);
  await expect(row).toContainText('write');
  await expect(row).toContainText('on');
  // No password is ever shown: the page knows only how many there are.
  await expect(page.getByTestId('users')).not.toContainText('a passphrase for the page');
  await page.getByRole('button', { name: 'Log out' }).click();

  await userLogin('a passphrase for the page');
  await expect(page.getByTestId('who')).toHaveText(name);
  await page.getByRole('button', { name: 'Log out' }).click();

  await operatorLogin();
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByTestId(`user-${name}`).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId(`user-${name}`)).toHaveCount(0);
  await page.getByRole('button', { name: 'Log out' }).click();

  await userLogin('a passphrase for the page');
  await expect(page.getByRole('alert')).toContainText('not valid');
});
