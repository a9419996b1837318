import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { CloseCode } from '../harness/protocol-imports.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { CHROMIUM, launchBrowser, type TestBrowser } from './browser-harness.js';

describe('web dashboard: enrollments and credentials (chromium)', function () {
  this.timeout(60_000);
  let fusion: TestFusion;
  let browser: TestBrowser;
  const clients: RawAgentClient[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM) && !process.env.CI) {
      console.warn(`    browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    fusion = await startFusion({ enrollmentRetryMs: 50 });
    browser = await launchBrowser();
  });
  after(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await browser?.close();
    await fusion?.stop();
  });

  it('accepts a pending agent, then rotates and releases its credential', async () => {
    const token = (await fusion.json('POST', '/api/v1/management/enrollment-tokens', { name: 'approval', requires_approval: true })).body;
    const waiting = await RawAgentClient.connect(fusion.url, 'node-9', token.secret);
    clients.push(waiting);
    await waiting.hello().catch(() => undefined);
    expect(await waiting.closed()).to.equal(CloseCode.EnrollmentPending);

    const { page } = browser;
    await page.goto(`${fusion.url}/ui/`);
    await page.fill('[data-token-input]', fusion.adminToken);
    await page.click('[data-action="sign-in"]');
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    await page.click('[data-nav="enrollments"]');
    const row = page.locator('[data-agent-id="node-9"][data-state="pending"]');
    await row.waitFor();
    await browser.screenshot('identity-01-pending');
    await row.locator('[data-action="accept"]').click();
    await page.locator('[data-enrollment-result="accept"]').waitFor();
    await page.locator('[data-agent-id="node-9"][data-state="accepted"]').waitFor();

    const enrolled = await RawAgentClient.connect(fusion.url, 'node-9', token.secret);
    clients.push(enrolled);
    await enrolled.hello({}, { capabilities: ['patch', 'credential_rotation'] });

    await page.goto(`${fusion.url}/ui/#/agents/node-9`);
    await page.click('[data-tab="identity"]');
    await page.locator('[data-table="credentials"] tbody tr').first().waitFor();
    await page.click('[data-action="rotate-credential"]');
    await page.locator('[data-identity-result="rotate-credential"]').waitFor();
    const frame = await enrolled.next('credential');
    expect(frame.credential).to.match(/^fagt_/);
    await browser.screenshot('identity-02-rotated');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('[data-action="release"]');
    await page.locator('[data-identity-result="release"]').waitFor();
    expect(await enrolled.closed()).to.equal(CloseCode.CredentialExpired);
    await page.getByText('The agent holds no live credential').waitFor();
  });
});
