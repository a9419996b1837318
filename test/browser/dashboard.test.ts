import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../agent/agent.js';
import { tempHome } from '../harness/temp-home.js';
import { INGEST_KEY, startManagedFusion, type ManagedFusion } from '../management/management-harness.js';
import { CHROMIUM, launchBrowser, type TestBrowser } from './browser-harness.js';

const AGENT_ID = 'nfs-01';

/** The agent config an admin types: one fs pipe into Fusion's `main` pipe. */
function agentYaml(root: string, fusionUrl: string, sender = 'fusion-main'): string {
  return `# research share on nfs-01
sources:
  research:
    driver: fs
    uri: ${root}
senders:
  fusion-main:
    driver: fusion
    uri: ${fusionUrl}
    credential: { key: ${INGEST_KEY} }
pipes:
  research:
    source: research
    sender: ${sender}
    audit_interval_sec: 300
`;
}

describe('web dashboard (chromium)', function () {
  this.timeout(90_000);
  // The tests are one walk through the UI, each building on the one before.
  this.bail(true);
  let fusion: ManagedFusion;
  let browser: TestBrowser;
  let agentHome: Awaited<ReturnType<typeof tempHome>>;
  let agent: Agent | undefined;

  before(async function () {
    // Outside CI a machine without Debian's chromium skips these tests, saying why; CI installs it and must run them.
    if (!existsSync(CHROMIUM) && !process.env.CI) {
      console.warn(`    browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    fusion = await startManagedFusion({ eventHeartbeatMs: 1000 });
    agentHome = await tempHome('fustor-ui-agent-');
    await mkdir(join(agentHome.path, 'data', 'projects'), { recursive: true });
    await writeFile(join(agentHome.path, 'data', 'readme.txt'), 'hello');
    await writeFile(join(agentHome.path, 'data', 'projects', 'plan.md'), '# plan');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await agent?.stop();
    await fusion?.close();
    await agentHome?.remove();
  });

  it('signs in, sees an agent come online, edits its config and sees it applied, sends report_config and sees the result', async () => {
    const { page } = browser;
    const root = join(agentHome.path, 'data');

    // Sign in.
    await page.goto(`${fusion.url}/ui/`);
    await page.locator('[data-signin]').waitFor();
    await browser.screenshot('01-sign-in');
    await page.fill('[data-token-input]', 'not-a-token');
    await page.click('[data-action="sign-in"]');
    await page.getByText('That token is unknown, expired or revoked.').waitFor();
    await page.fill('[data-token-input]', fusion.adminToken);
    await page.click('[data-action="sign-in"]');
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
    await page.getByText('No agent has connected yet').waitFor();
    expect(await page.evaluate('sessionStorage.getItem("fustor.adminToken")')).to.equal(fusion.adminToken);

    // A real agent comes online; the fleet table shows it without a reload.
    agent = new Agent({
      home: agentHome.path,
      agentId: AGENT_ID,
      controlPlaneUri: fusion.url,
      authToken: fusion.enrollmentToken,
      connectTimeoutMs: 300,
      backoff: { baseMs: 20, capMs: 200, stableAfterMs: 60_000 },
      logger: pino({ level: 'silent' }),
    });
    await agent.start();
    const row = page.locator(`tr[data-agent-id="${AGENT_ID}"]`);
    await row.and(page.locator('[data-status="online"]')).waitFor();
    await browser.screenshot('02-fleet-agent-online');

    // Open the agent and write a config with a mistake: the issue shows inline with its line.
    await row.getByRole('link', { name: AGENT_ID }).click();
    await page.locator('[data-agent-header][data-online="true"]').waitFor();
    await page.click('[data-tab="edit"]');
    const editor = page.locator('[data-editor="agent-config"]');
    await editor.fill(agentYaml(root, fusion.url, 'fusion-typo'));
    await page.click('[data-action="preview"]');
    const issue = page.locator('[data-issue-path="pipes.research.sender"]');
    await issue.waitFor();
    expect(await issue.textContent()).to.match(/line 14.*unknown sender "fusion-typo"/);
    await browser.screenshot('03-editor-validation-error');

    // Fix it and save: the agent applies it and the header turns to applied, live.
    await editor.fill(agentYaml(root, fusion.url));
    await page.click('[data-action="preview"]');
    await page.locator('[data-preview-counts]').waitFor();
    expect(await page.locator('[data-preview-counts]').innerText()).to.match(/1 changed/);
    await page.click('[data-action="confirm-save"]');
    await page.locator('[data-agent-header][data-config-status="applied"]').waitFor({ timeout: 20_000 });
    await page.click('[data-tab="config"]');
    await page.locator('[data-compare="desired"] pre').waitFor();
    await page.locator('[data-compare="applied"] pre').waitFor();
    expect(await page.locator('[data-compare="desired"] pre').textContent()).to.include(`uri: ${root}`);
    await browser.screenshot('04-agent-config-applied');

    // report_config from the Commands tab, followed to its result.
    await page.click('[data-tab="commands"]');
    await page.selectOption('[data-command-type]', 'report_config');
    await page.click('[data-action="send-command"]');
    const done = page.locator('[data-command-id][data-status="succeeded"]');
    await done.waitFor({ timeout: 20_000 });
    expect(await done.locator('[data-command-output]').textContent()).to.match(/signature: sha256:/);
    await browser.screenshot('05-command-report-config');

    // The reported config now shows beside the desired one, with no drift.
    await page.click('[data-tab="config"]');
    await page.locator('[data-compare="reported"] pre').waitFor();
    await page.getByText('No difference between desired and reported.').waitFor();
    await browser.screenshot('06-agent-config-reported');
    expect(browser.pageErrors).to.deep.equal([]);
  });

  it('shows what changed when someone else saved the config meanwhile (If-Match conflict)', async () => {
    const { page } = browser;
    const root = join(agentHome.path, 'data');
    await page.click('[data-tab="edit"]');
    const editor = page.locator('[data-editor="agent-config"]');
    await editor.waitFor();
    await page.waitForFunction('document.querySelector(\'[data-editor="agent-config"]\')?.value.includes("audit_interval_sec")');
    await editor.fill(agentYaml(root, fusion.url).replace('audit_interval_sec: 300', 'audit_interval_sec: 600'));
    // Another admin saves first.
    const other = await fusion.api(`/api/v1/management/agents/${AGENT_ID}/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: agentYaml(root, fusion.url).replace('audit_interval_sec: 300', 'audit_interval_sec: 120'),
    });
    expect(other.status).to.equal(201);
    await page.click('[data-action="preview"]');
    const conflict = page.locator('[data-conflict]');
    await conflict.waitFor();
    expect(await conflict.locator('.diff-add').allTextContents()).to.include('+     audit_interval_sec: 120\n');
    await browser.screenshot('07-editor-conflict');
    await page.click('[data-action="overwrite"]');
    await conflict.waitFor({ state: 'detached' });
    const saved = (await (await fusion.api(`/api/v1/management/agents/${AGENT_ID}/config`)).text()) as string;
    expect(saved).to.include('audit_interval_sec: 600');
    await page.locator('[data-agent-header][data-config-status="applied"]').waitFor({ timeout: 20_000 });
  });

  it('shows Fusion pipes, views and the agent\'s ingest session', async () => {
    const { page } = browser;
    await page.click('a[data-nav="fusion"]');
    await page.locator('tr[data-pipe="main"][data-state="RUNNING"]').waitFor();
    await page.locator('[data-table="sessions"] tr', { hasText: AGENT_ID }).waitFor({ timeout: 20_000 });
    await page.locator('[data-editor="fusion-config"]').waitFor();
    await browser.screenshot('08-fusion');
    expect(browser.pageErrors).to.deep.equal([]);
  });

  it('shows a group with its template, members and a rollout reaching the agent', async () => {
    const { page } = browser;
    const root = join(agentHome.path, 'data');
    const call = async (method: string, path: string, body: string, type = 'application/json'): Promise<void> => {
      const res = await fusion.api(path, { method, headers: { 'content-type': type }, body });
      expect(res.status, await res.clone().text()).to.be.oneOf([200, 201]);
      await res.arrayBuffer();
    };
    await page.click('a[data-nav="groups"]');
    await page.getByRole('heading', { name: 'Groups', level: 1 }).waitFor();
    await page.getByText('No groups yet.').waitFor();
    await call('POST', '/api/v1/management/groups', JSON.stringify({ name: 'nfs', description: 'NFS storage nodes', template: agentYaml(root, fusion.url) }));
    await call('PUT', `/api/v1/management/groups/nfs/members/${AGENT_ID}`, JSON.stringify({ variables: { site: 'lab' } }));
    await call('PUT', '/api/v1/management/groups/nfs/template', agentYaml(root, fusion.url).replace('audit_interval_sec: 300', 'audit_interval_sec: 900'), 'application/yaml');
    await page.reload();
    await page.locator('[data-table="groups"] a', { hasText: 'nfs' }).click();
    await page.locator(`[data-table="members"] tr[data-agent-id="${AGENT_ID}"]`).waitFor();
    await page.locator('[data-table="rollouts"] tr[data-status="completed"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('pre.code-block').textContent()).to.include('audit_interval_sec: 900');
    await browser.screenshot('09-group');
    expect(browser.pageErrors).to.deep.equal([]);
  });

  it("shows the agent's pipes live, then greyed as last reported once the agent is offline", async () => {
    const { page } = browser;
    await page.click('a[data-nav="fleet"]');
    await page.locator(`tr[data-agent-id="${AGENT_ID}"] a`).click();
    await page.locator('[data-agent-header][data-online="true"]').waitFor();
    await page.click('[data-tab="pipes"]');
    await page.locator('[data-table="agent-pipes"] td', { hasText: 'research' }).first().waitFor();
    expect(await page.locator('[data-pipes-stale]').count()).to.equal(0);
    await agent!.stop();
    agent = undefined;
    const stale = page.locator('[data-pipes-stale]');
    await stale.locator('[data-table="agent-pipes"] td', { hasText: 'research' }).first().waitFor();
    expect(await stale.locator('.stale-note').textContent()).to.match(/^The agent is offline: last reported .+\. These states are not live\.$/);
    await browser.screenshot('10-agent-pipes-last-reported');
    expect(browser.pageErrors).to.deep.equal([]);
  });

  it('works at phone width', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('a[data-nav="fleet"]');
    await page.locator(`tr[data-agent-id="${AGENT_ID}"]`).waitFor();
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).to.be.at.most(0, 'the page itself does not scroll sideways');
    await browser.screenshot('11-phone-fleet');
    await page.locator(`tr[data-agent-id="${AGENT_ID}"] a`).click();
    await page.locator('[data-agent-header]').waitFor();
    await page.locator('[data-compare="desired"] pre').waitFor();
    await browser.screenshot('12-phone-agent');
    await page.click('#sign-out');
    await page.locator('[data-signin]').waitFor();
    expect(await page.evaluate('sessionStorage.getItem("fustor.adminToken")')).to.equal(null);
    expect(browser.pageErrors).to.deep.equal([]);
  });
});
