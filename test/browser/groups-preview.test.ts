import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { eventually } from '../harness/eventually.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, createGroup, ok, withAudit } from '../groups/group-fixture.js';
import { CHROMIUM, launchBrowser, type TestBrowser } from './browser-harness.js';

const auditOf = (doc: Record<string, unknown> | null): unknown => (doc?.pipes as any)?.main.audit_interval_sec;

describe('web dashboard: preview before save, reviewed changes (chromium)', function () {
  this.timeout(60_000);
  this.bail(true);
  let fusion: TestFusion;
  let browser: TestBrowser;
  let n1: MemberAgent;
  let reviewerToken: string;

  before(async function () {
    if (!existsSync(CHROMIUM) && !process.env.CI) {
      console.warn(`    browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    fusion = await startFusion();
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    n1 = await MemberAgent.connect(fusion, 'n1');
    for (const id of ['n1', 'n2']) await assign(fusion, 'nfs', id, { variables: { mount_point: id } });
    await eventually(() => auditOf(n1.document) === 300);
    reviewerToken = (await ok(fusion, 'POST', '/api/v1/management/admin-tokens', { name: 'reviewer', role: 'admin' }, 201)).secret;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    n1?.close();
    await fusion?.stop();
  });

  async function signIn(token: string): Promise<void> {
    const { page } = browser;
    await page.goto(`${fusion.url}/ui/`);
    await page.evaluate(`sessionStorage.setItem('fustor.adminToken', ${JSON.stringify(token)})`);
    await page.goto(`${fusion.url}/ui/#/groups/nfs`);
    await page.getByRole('heading', { name: 'nfs' }).waitFor();
  }

  async function edit(text: string): Promise<void> {
    const { page } = browser;
    const editor = page.locator('[data-editor="group-template"]');
    await eventually(async () => (await editor.inputValue()).includes('audit_interval_sec'));
    await editor.fill(text);
  }

  it('previews a template change (every member, batches, expandable diffs) before saving it', async () => {
    const { page } = browser;
    await signIn(fusion.adminToken);
    await edit(withAudit(MOUNT_TEMPLATE, 900));
    await page.fill('[data-field="batch-size"]', '1');
    await page.click('[data-action="preview"]');
    const counts = page.locator('[data-preview-counts]');
    await counts.waitFor();
    expect(await counts.innerText()).to.match(/2 changed[\s\S]*0 invalid[\s\S]*1 offline[\s\S]*of 2 agent/);
    await page.getByText('Rolls out in 2 batch(es).').waitFor();
    const row = page.locator('[data-table="preview-agents"] tr[data-agent-id="n1"]');
    await row.locator('summary').click();
    const diff = await row.locator('[data-agent-diff]').innerText();
    expect(diff).to.include('-    audit_interval_sec: 300').and.include('+    audit_interval_sec: 900');
    await browser.screenshot('groups-01-preview');
    // Nothing is stored by the preview.
    expect(auditOf(n1.document)).to.equal(300);
    expect((await ok(fusion, 'GET', '/api/v1/management/groups/nfs')).revision).to.equal(1);

    await page.click('[data-action="confirm-save"]');
    await page.getByText(/Saved revision 2; rollout \S+ started\./).waitFor();
    await eventually(() => auditOf(n1.document) === 900);
    await page.locator('[data-action="show-rollout"]').first().click();
    await page.locator('[data-table="rollout-members"] tr[data-agent-id="n1"][data-state="applied"]').waitFor();
  });

  it('in a group that requires review, a save waits until another admin approves it', async () => {
    const { page } = browser;
    await page.click('[data-action="toggle-review"]');
    await page.locator('[data-review="true"]').waitFor();
    await edit(withAudit(MOUNT_TEMPLATE, 60));
    await page.click('[data-action="preview"]');
    await page.locator('[data-preview-counts]').waitFor();
    await page.click('[data-action="confirm-save"]');
    await page.getByText(/waits for another admin's review; nothing was rolled out/).waitFor();
    await page.locator('[data-table="changes"] [data-action="show-change"]').first().click();
    await page.locator('[data-changes] [data-preview-counts]').waitFor();
    // The author's own approval is refused.
    await page.click('[data-changes] [data-action="approve"]');
    await page.getByText('another admin must review it').waitFor();
    expect(auditOf(n1.document)).to.equal(900);
    await browser.screenshot('groups-02-review-refused');

    await signIn(reviewerToken);
    await page.locator('[data-table="changes"] [data-action="show-change"]').first().click();
    await page.locator('[data-changes] [data-preview-counts]').waitFor();
    await page.click('[data-changes] [data-action="approve"]');
    await page.locator('[data-decided="approve"]').waitFor();
    await eventually(() => auditOf(n1.document) === 60);
    expect(browser.pageErrors).to.deep.equal([]);
  });

  it('a member change waits in the same list: its variables, its preview, approved by the other admin', async () => {
    const { page } = browser;
    const proposed = await ok(fusion, 'PATCH', '/api/v1/management/groups/nfs/members/n1', { variables: { mount_point: 'moved' } }, 202);
    // The list follows the live event; the reviewer (signed in) opens the member change.
    const row = page.locator(`[data-table="changes"] tr[data-change-id="${proposed.change.id}"]`);
    await row.waitFor();
    await row.getByText('member n1').waitFor();
    await row.locator('[data-action="show-change"]').click();
    await page.locator('[data-member-change="n1"]').getByText('mount_point=moved').waitFor();
    await page.locator('[data-changes] [data-preview-counts]').waitFor();
    expect(await page.locator('[data-changes]').textContent()).to.include('/mnt/moved/data');
    await browser.screenshot('groups-03-member-change');
    await page.click('[data-changes] [data-action="approve"]');
    await page.locator('[data-decided="approve"]').getByText("n1's config is pushed").waitFor();
    await eventually(() => (n1.document?.sources as any)?.data.uri === '/mnt/moved/data');
    expect(browser.pageErrors).to.deep.equal([]);
  });

  it("pages a wide rollout's members: 200 at a time, the rest on Show more", async () => {
    const { page } = browser;
    await createGroup(fusion, 'wide', MOUNT_TEMPLATE);
    const ids = Array.from({ length: 201 }, (_, i) => `w-${String(i).padStart(3, '0')}`);
    for (const id of ids) await assign(fusion, 'wide', id, { variables: { mount_point: id } });
    await ok(fusion, 'PUT', '/api/v1/management/groups/wide/template', { template: withAudit(MOUNT_TEMPLATE, 900) });
    await page.goto(`${fusion.url}/ui/#/groups/wide`);
    await page.getByRole('heading', { name: 'wide' }).waitFor();
    await page.locator('[data-action="show-rollout"]').first().click();
    const rows = page.locator('[data-table="rollout-members"] tr[data-agent-id]');
    const more = page.locator('[data-more-members]');
    await more.getByText('Show more (200 of 201)').waitFor();
    expect(await rows.count()).to.equal(200);
    await more.click();
    await page.locator('[data-table="rollout-members"] tr[data-agent-id="w-200"]').waitFor();
    expect(await rows.count()).to.equal(201);
    expect(await more.count()).to.equal(0);
    expect(browser.pageErrors).to.deep.equal([]);
  });
});
