// The Cluster page against a real one-member cluster (run-e2e.sh starts it with --cluster-init)
// and against a single node, which says it runs alone.
import { expect, test } from '@playwright/test';

const clusterURL = process.env.LARDER_CLUSTER_URL;

test('the Cluster page shows the members, their slots and the raft leader', async ({ page }) => {
  expect(clusterURL, 'run through run-e2e.sh').toBeTruthy();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  const info = await (await page.request.get(`${clusterURL}/v1/cluster`)).json();
  expect(info.members).toHaveLength(1);
  await page.goto(`${clusterURL}/#/cluster`);
  await expect(page.getByRole('heading', { name: 'Cluster' })).toBeVisible();
  await expect(page.getByTestId('cluster-summary')).toContainText('1 members, 0 failed');
  await expect(page.getByTestId('cluster-summary')).toContainText(`leader ${info.me}`);
  // Nothing is syncing or moving on a settled one-member cluster.
  await expect(page.getByTestId('cluster-summary')).toContainText(
    '0 syncing replica role(s) · 0 slot(s) moving',
  );
  const row = page.getByTestId(`member-${info.me}`);
  await expect(row).toContainText('(this node)');
  await expect(row).toContainText('up, leader');
  // One member owns every slot.
  await expect(row).toContainText('16384');
  expect(problems).toEqual([]);
});

test('on a single node the Cluster page says it runs alone', async ({ page }) => {
  await page.goto('/#/cluster');
  await expect(page.getByTestId('not-a-cluster')).toContainText('This node runs alone');
});
