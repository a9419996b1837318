import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { CHROMIUM, launchBrowser, type TestBrowser } from './browser-harness.js';

describe('web dashboard: secrets page (chromium)', function () {
  this.timeout(60_000);
  let fusion: TestFusion;
  let browser: TestBrowser;

  before(async function () {
    if (!existsSync(CHROMIUM) && !process.env.CI) {
      console.warn(`    browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    fusion = await startFusion();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await fusion?.stop();
  });

  it('creates, rotates and deletes a secret, shows who uses it, and never shows a value', async () => {
    const { page } = browser;
    await page.goto(`${fusion.url}/ui/`);
    await page.fill('[data-token-input]', fusion.adminToken);
    await page.click('[data-action="sign-in"]');
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    await page.click('[data-nav="secrets"]');
    await page.getByText('No secrets yet.').waitFor();

    await page.fill('[data-secret-name]', 'ingest');
    await page.fill('[data-secret-create] [data-secret-value]', 'first-value-123');
    await page.click('[data-action="create-secret"]');
    const row = page.locator('tr[data-secret="ingest"]');
    await row.waitFor();
    expect(await row.textContent()).to.contain('${secret:ingest}').and.contain('unused');

    // A config uses it: the page names the agent.
    const document = { sources: {}, senders: { out: { driver: 'fusion', uri: 'http://f', credential: { key: '${secret:ingest}' } } }, pipes: {} };
    expect((await fusion.json('POST', '/api/v1/management/agents/node-7/config/structured', document)).status).to.equal(201);
    await page.fill('[data-secret-rotate="ingest"] [data-secret-value]', 'second-value-456');
    await page.click('[data-secret-rotate="ingest"] [data-action="rotate-secret"]');
    await row.locator('td[data-label="Version"]', { hasText: '2' }).waitFor();
    await row.getByRole('link', { name: 'node-7' }).waitFor();
    await browser.screenshot('secrets-01-list');

    // Deleting a secret in use is refused, naming the user.
    page.once('dialog', (dialog) => void dialog.accept());
    await row.locator('[data-action="delete-secret"]').click();
    const refusal = row.getByText('secret ingest is referenced by agent(s) node-7');
    await refusal.waitFor();

    const html = await page.content();
    expect(html).to.not.contain('first-value-123').and.not.contain('second-value-456');
    expect(await page.locator('[data-secret-value]').evaluateAll((inputs) => inputs.map((i) => (i as unknown as { value: string }).value))).to.deep.equal(['', '']);

    // Once no config uses it, it can be deleted.
    await fusion.json('POST', '/api/v1/management/agents/node-7/config/structured', { sources: {}, senders: {}, pipes: {} });
    page.once('dialog', (dialog) => void dialog.accept());
    await row.locator('[data-action="delete-secret"]').click();
    await page.getByText('No secrets yet.').waitFor();
  });
});
