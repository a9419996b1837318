import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { eventually, sampleConfig, startAgent, tempHome, type TestAgent } from '../harness/index.js';
import { startManagedFusion, type ManagedFusion } from '../management/management-harness.js';
import { CHROMIUM, launchBrowser, type TestBrowser } from './browser-harness.js';

describe('web dashboard: labels, health, diagnostics, decommission and webhooks (chromium)', function () {
  this.timeout(90_000);
  this.bail(true);
  let fusion: ManagedFusion;
  let browser: TestBrowser;
  let agent: TestAgent | undefined;
  let root: Awaited<ReturnType<typeof tempHome>>;
  let hookServer: Server;
  const hits: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM) && !process.env.CI) {
      console.warn(`    browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    fusion = await startManagedFusion({ eventHeartbeatMs: 1000 });
    root = await tempHome('ui-admin-root-');
    await mkdir(join(root.path, 'data-0'));
    await fusion.json('POST', '/api/v1/control/configs/ui-node', sampleConfig({ root: root.path, fusionUrl: fusion.url }));
    agent = await startAgent(fusion, { agentId: 'ui-node' });
    hookServer = createServer((req, res) => {
      hits.push(String(req.headers['x-fustor-event']));
      req.resume();
      res.end();
    });
    await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await agent?.stop();
    await fusion?.close();
    await root?.remove();
    await new Promise((resolve) => hookServer?.close(resolve));
  });

  it('sets and removes labels, shows health, collects a diagnostics bundle', async () => {
    const { page } = browser;
    await page.goto(`${fusion.url}/ui/#/agents/ui-node`);
    await page.fill('[data-token-input]', fusion.adminToken);
    await page.click('[data-action="sign-in"]');
    await page.locator('[data-agent-header][data-config-status="applied"]').waitFor({ timeout: 20_000 });
    await page.click('[data-tab="manage"]');
    await page.locator('[data-health]').waitFor();

    await page.fill('[data-label-input]', 'env=prod');
    await page.click('[data-action="add-label"]');
    await page.locator('li[data-label="env"]').waitFor();
    await page.fill('[data-label-input]', 'bad label');
    await page.click('[data-action="add-label"]');
    await page.getByText('write a label as key=value').waitFor();
    expect((await fusion.json('GET', '/api/v1/management/agents/ui-node')).body.labels).to.deep.equal({ env: 'prod' });

    await page.click('[data-action="collect-diagnostics"]');
    await page.getByText(/Bundle collected/).waitFor({ timeout: 20_000 });
    await page.locator('[data-table="bundles"] tr[data-command-id]').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-download]')]);
    expect(download.suggestedFilename()).to.match(/^diagnostics-ui-node-.*\.json$/);
    await browser.screenshot('manage-tab');

    await page.click('[data-remove-label="env"]');
    await page.locator('li[data-label="env"]').waitFor({ state: 'detached' });
    expect((await fusion.json('GET', '/api/v1/management/agents/ui-node')).body.labels).to.deep.equal({});
  });

  it('creates a webhook, shows its secret once, sends a test and lists the delivery', async () => {
    const { page } = browser;
    await page.click('a[data-nav="webhooks"]');
    await page.fill('[data-webhook-field="name"]', 'pager');
    await page.fill('[data-webhook-field="url"]', `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`);
    await page.fill('[data-webhook-field="events"]', 'agent.offline');
    await page.click('[data-action="create-webhook"]');
    await page.locator('[data-webhook-secret]').getByText(/whsec_/).waitFor();
    await page.locator('[data-table="webhooks"] tr[data-name="pager"] [data-action="test"]').click();
    // The log shows the delivery once it is done (asked again, as an admin would, until it is):
    // each look waits for the log that click loaded (a click first shows "Loading…").
    await eventually(async () => {
      await page.locator('[data-table="webhooks"] tr[data-name="pager"] [data-action="deliveries"]').click();
      await page.locator('[data-deliveries-of="pager"]').waitFor();
      return (await page.locator('[data-table="deliveries"] tr[data-event="webhook.ping"][data-status="succeeded"]').count()) === 1;
    }, { timeoutMs: 30_000, message: 'the test delivery is listed as succeeded' });
    expect(hits).to.include('webhook.ping');
    await page.fill('[data-webhook-field="url"]', 'ftp://nowhere');
    await page.fill('[data-webhook-field="name"]', 'bad');
    await page.fill('[data-webhook-field="events"]', 'agent.offline');
    await page.click('[data-action="create-webhook"]');
    await page.locator('[data-webhook-error]').getByText(/url/).waitFor();
  });

  it('decommissions the agent after the id is typed, and the agent sends offline to the webhook', async () => {
    const { page } = browser;
    await page.goto(`${fusion.url}/ui/#/agents/ui-node`);
    await page.click('[data-tab="manage"]');
    await page.click('[data-action="decommission"]');
    await page.getByText('type the agent id (ui-node) to confirm').waitFor();
    await page.fill('[data-confirm-input]', 'ui-node');
    await page.click('[data-action="decommission"]');
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    expect((await fusion.json('GET', '/api/v1/management/agents/ui-node')).status).to.equal(404);
    await eventually(() => hits.includes('agent.offline'), { timeoutMs: 10_000 });
  });
});
