import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { eventually } from '../harness/eventually.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, createGroup, ok } from '../groups/group-fixture.js';
import { CHROMIUM, launchBrowser, type TestBrowser } from './browser-harness.js';

const PLAIN_TEMPLATE = MOUNT_TEMPLATE.replace('/mnt/${mount_point}/data', '/srv/data');

describe('web dashboard: a group rule by label selector (chromium)', function () {
  this.timeout(60_000);
  let fusion: TestFusion;
  let browser: TestBrowser;
  const agents: MemberAgent[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM) && !process.env.CI) {
      console.warn(`    browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    fusion = await startFusion();
    await createGroup(fusion, 'web', PLAIN_TEMPLATE);
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    for (const id of ['w1', 'w2', 'w3']) agents.push(await MemberAgent.connect(fusion, id));
    for (const id of ['w1', 'w2', 'w3']) await ok(fusion, 'PUT', `/api/v1/management/agents/${id}/labels`, { labels: { role: 'web' } });
    await assign(fusion, 'nfs', 'w3', { variables: { mount_point: 'w3' } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    for (const a of agents) a.close();
    await fusion?.stop();
  });

  it('previews, saves and shows a rule: the members it claimed and the match it could not', async () => {
    const { page } = browser;
    await page.goto(`${fusion.url}/ui/`);
    await page.evaluate(`sessionStorage.setItem('fustor.adminToken', ${JSON.stringify(fusion.adminToken)})`);
    await page.goto(`${fusion.url}/ui/#/groups/web`);
    await page.getByRole('heading', { name: 'web' }).waitFor();
    await page.getByText('no rule: members are assigned').waitFor();

    await page.fill('[data-field="selector"]', 'role in (web');
    await page.click('[data-action="preview-rule"]');
    await page.locator('[data-rule-result] [role="alert"]').getByText(/position 12/).waitFor();

    await page.fill('[data-field="selector"]', 'role=web');
    await page.click('[data-action="preview-rule"]');
    await page.getByText('Would add 2 agent(s), release 0; 0 not claimed, 1 conflict(s). Nothing stored.').waitFor();
    expect(await page.locator('[data-table="rule-preview"] tr[data-action="join"]').count()).to.equal(2);
    expect((await ok(fusion, 'GET', '/api/v1/management/groups/web')).selector).to.equal(null);

    await page.click('[data-action="save-rule"]');
    await page.locator('[data-table="members"] tr[data-agent-id="w1"][data-source="rule"]').waitFor();
    await page.locator('[data-table="members"] tr[data-agent-id="w2"][data-source="rule"]').waitFor();
    const conflict = page.locator('[data-table="rule-conflicts"] tr[data-agent-id="w3"]');
    expect(await conflict.innerText()).to.include('nfs').and.include('assigned by admin');
    await eventually(() => (agents[0]!.document?.sources as any)?.data?.uri === '/srv/data');
    await browser.screenshot('group-rules-01');
  });
});
