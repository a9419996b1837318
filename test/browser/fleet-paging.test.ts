import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { startManagedFusion, type ManagedFusion } from '../management/management-harness.js';
import { CHROMIUM, launchBrowser, type TestBrowser } from './browser-harness.js';

/** 60 agents: the table shows 50 a page; every third is env=prod. */
const IDS = Array.from({ length: 60 }, (_, i) => `node-${String(i).padStart(2, '0')}`);

describe('web dashboard: the fleet table pages and filters (chromium)', function () {
  this.timeout(90_000);
  let fusion: ManagedFusion;
  let browser: TestBrowser;

  before(async function () {
    if (!existsSync(CHROMIUM) && !process.env.CI) {
      console.warn(`    browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    fusion = await startManagedFusion({ eventHeartbeatMs: 1000 });
    for (const [i, id] of IDS.entries()) {
      await fusion.rawAgent(id);
      if (i % 3 === 0) await fusion.json('PUT', `/api/v1/management/agents/${id}/labels`, { labels: { env: 'prod' } });
    }
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await fusion?.close();
  });

  const rows = () => browser.page.locator('[data-table="agents"] tbody tr');

  it('shows a page at a time, filters by selector, status and search, and updates a shown row live', async () => {
    const { page } = browser;
    await page.goto(`${fusion.url}/ui/`);
    await page.fill('[data-token-input]', fusion.adminToken);
    await page.click('[data-action="sign-in"]');
    await page.locator('[data-table="agents"] tr[data-agent-id="node-00"]').waitFor();
    expect(await rows().count()).to.equal(50);
    await page.locator('[data-stat="Agents online"]').getByText('60 / 60').waitFor();

    await page.click('[data-page="next"]');
    await page.locator('tr[data-agent-id="node-59"]').waitFor();
    expect(await rows().count()).to.equal(10);
    expect(await page.locator('[data-page="next"]').isDisabled()).to.equal(true);
    await page.click('[data-page="prev"]');
    await page.locator('tr[data-agent-id="node-00"]').waitFor();

    await page.fill('[data-filter="selector"]', 'env=prod');
    await page.locator('tr[data-agent-id="node-01"]').waitFor({ state: 'detached' });
    expect(await rows().count()).to.equal(20);
    await page.fill('[data-filter="q"]', 'node-5');
    await page.locator('tr[data-agent-id="node-03"]').waitFor({ state: 'detached' });
    expect(await rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-agent-id")))).to.deep.equal(['node-51', 'node-54', 'node-57']);
    await browser.screenshot('fleet-filtered');

    // A bad selector says why, in place.
    await page.fill('[data-filter="selector"]', 'env=prod,');
    await page.getByText(/invalid selector/).waitFor();

    // An agent on the page goes offline: its row changes without a reload.
    await page.fill('[data-filter="selector"]', '');
    await page.fill('[data-filter="q"]', 'node-57');
    await page.locator('tr[data-agent-id="node-57"][data-status="online"]').waitFor();
    await fusion.json('POST', '/api/v1/management/agents/node-57/revoke');
    await page.locator('tr[data-agent-id="node-57"][data-status="offline"]').waitFor();
    // Of all 60, only node-57 is offline. The page shown before holds node-57 too, so wait for the
    // answer to the status-filtered request before reading the table.
    const offlinePage = page.waitForResponse((r) => r.url().includes('status=offline') && !r.url().includes('q='));
    await page.fill('[data-filter="q"]', '');
    await page.selectOption('[data-filter="status"]', 'offline');
    await offlinePage;
    await page.locator('[data-page-info]', { hasText: /^page 1 · 1 agent\(s\)$/ }).waitFor();
    expect(await rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-agent-id')))).to.deep.equal(['node-57']);
  });
});
