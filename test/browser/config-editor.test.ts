import { expect } from 'chai';
import { existsSync } from 'node:fs';
import type { Request } from 'playwright-core';
import { INGEST_KEY, startManagedFusion, type ManagedFusion } from '../management/management-harness.js';
import { CHROMIUM, launchBrowser, type TestBrowser } from './browser-harness.js';

const AGENT_ID = 'edge-1';
const CONFIG_PATH = `/api/v1/management/agents/${AGENT_ID}/config`;

function agentYaml(fusionUrl: string, note = 'edge node, written by hand'): string {
  return `# ${note}
sources:
  share:
    driver: fs
    uri: /srv/share
senders:
  fusion:
    driver: fusion
    uri: ${fusionUrl}
    credential: { key: ${INGEST_KEY} }
pipes:
  share:
    source: share
    sender: fusion
`;
}

/** A config of about `bytes` bytes: one pipe with a long fields_mapping list, one mapping per line pair. */
function bigYaml(bytes: number): string {
  const lines = ['sources:', '  s: { driver: fs, uri: /srv/s }', 'senders:', '  f: { driver: fusion, uri: http://f, credential: { key: k } }', 'pipes:', '  p:', '    source: s', '    sender: f', '    fields_mapping:'];
  let size = lines.join('\n').length;
  for (let i = 0; size < bytes; i++) {
    const entry = [`      - to: field_${i}_target`, `        source: [path_${i}_a, path_${i}_b]`];
    lines.push(...entry);
    size += entry[0]!.length + entry[1]!.length + 2;
  }
  return `${lines.join('\n')}\n`;
}

describe('web dashboard: config editor, warm HTTP cache, command timeline, large diffs (chromium)', function () {
  this.timeout(60_000);
  let fusion: ManagedFusion;
  let browser: TestBrowser;
  /** Requests for the agent's config URL, with the headers the browser really sent (cache validators included). */
  const configRequests: { accept: string; ifNoneMatch: string | undefined; status: number | undefined }[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM) && !process.env.CI) {
      console.warn(`    browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    fusion = await startManagedFusion();
    const saved = await fusion.api(CONFIG_PATH, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: agentYaml(fusion.url) });
    expect(saved.status).to.equal(201);
    browser = await launchBrowser();
    browser.page.on('requestfinished', (request: Request) => void record(request));
    const record = async (request: Request): Promise<void> => {
      if (!request.url().endsWith(CONFIG_PATH) || request.method() !== 'GET') return;
      const headers = await request.allHeaders();
      const response = await request.response();
      configRequests.push({ accept: headers.accept ?? '', ifNoneMatch: headers['if-none-match'], status: response?.status() });
    };
    await browser.page.goto(`${fusion.url}/ui/`);
    await browser.page.fill('[data-token-input]', fusion.adminToken);
    await browser.page.click('[data-action="sign-in"]');
    await browser.page.getByRole('heading', { name: 'Fleet' }).waitFor();
  });
  after(async () => {
    await browser?.close();
    await fusion?.close();
  });

  /** The agent page's Config tab (which GETs the config as JSON), then its editor (which GETs it as YAML). */
  async function openEditor(): Promise<string> {
    const { page } = browser;
    await page.goto(`${fusion.url}/ui/#/agents/${AGENT_ID}`);
    await page.reload();
    await page.locator('[data-compare="desired"] pre').waitFor();
    await page.click('[data-tab="history"]');
    await page.locator('[data-tab="history"][aria-selected="true"]').waitFor();
    await page.click('[data-tab="edit"]');
    const editor = page.locator('[data-editor="agent-config"]');
    await page.waitForFunction(`(() => {
      const area = document.querySelector('[data-editor="agent-config"]');
      return area !== null && !area.disabled && area.value !== '';
    })()`);
    return editor.inputValue();
  }

  it('opens the editor with the YAML as written on every visit, though the JSON of the same URL is cached, and saves it', async () => {
    const { page } = browser;
    expect(await openEditor()).to.equal(agentYaml(fusion.url));
    // Visit again: now the browser holds both representations and revalidates each with its own ETag.
    expect(await openEditor()).to.equal(agentYaml(fusion.url));
    // Chromium revalidates the YAML request with the ETag of the JSON it cached for the same URL:
    // the case that once got a 304 and put the JSON object into the editor. Now that ETag does not match.
    const crossed = configRequests.filter((r) => r.accept.includes('yaml') && r.ifNoneMatch?.endsWith('.json"'));
    expect(crossed.length, JSON.stringify(configRequests)).to.be.greaterThan(0);
    for (const r of crossed) expect(r.status).to.equal(200);
    await browser.screenshot('20-editor-warm-cache');

    // Save through the editor: what is stored is the edited YAML, comments and all.
    const edited = agentYaml(fusion.url, 'edge node, edited in the dashboard');
    await page.locator('[data-editor="agent-config"]').fill(edited);
    await page.click('[data-action="save"]');
    await page.getByText(/Saved revision 2/).waitFor();
    expect(await (await fusion.api(CONFIG_PATH, { headers: { accept: 'application/yaml' } })).text()).to.equal(edited);
    expect(await openEditor()).to.equal(edited);
    expect(browser.pageErrors).to.deep.equal([]);
  });

  it("keeps Fusion's validation errors on screen when the save comes before the syntax check's delay ends", async () => {
    const { page } = browser;
    await openEditor();
    // Page time stands still from here, so the syntax check the keystrokes schedule is still pending when Fusion answers.
    await page.clock.install();
    await page.clock.pauseAt(Date.now() + 1000);
    const editor = page.locator('[data-editor="agent-config"]');
    await editor.fill(agentYaml(fusion.url).replace('sender: fusion', 'sender: nowhere'));
    await editor.press('Control+s');
    const issue = page.locator('[data-issue-path="pipes.share.sender"]');
    await issue.waitFor();
    // Run every timer the last keystroke left (the 250 ms syntax check) and more.
    await page.clock.runFor(2000);
    expect(await issue.count()).to.equal(1);
    expect(await issue.textContent()).to.match(/unknown sender "nowhere"/);
    // Typing again replaces Fusion's verdict with the syntax check of the new text.
    await editor.press('End');
    await editor.type('\n  bad: [unclosed');
    await page.clock.runFor(1000);
    await page.locator('[data-issue-path="YAML"]').first().waitFor();
    expect(await issue.count()).to.equal(0);
    await page.clock.resume();
    await page.reload();
  });

  it('keeps the command timeline in lifecycle order when transitions arrive out of order', async () => {
    const { page } = browser;
    await page.goto(`${fusion.url}/ui/`);
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    // The panel on its own, fed by a stand-in event stream that delivers transitions late and out of order.
    // A script as text: the test runner's transform would add helpers the page does not have.
    const steps = (await page.evaluate(`(async () => {
      const agentId = ${JSON.stringify(AGENT_ID)};
      const { commandPanel } = await import('/ui/js/components/command-panel.js');
      const { createScope } = await import('/ui/js/scope.js');
      const listeners = [];
      const live = { on: (type, fn) => (type === 'command.transition' && listeners.push(fn), () => undefined) };
      const scope = createScope();
      const panel = commandPanel({ agentId, live, scope });
      document.body.append(panel);
      panel.querySelector('[data-command-type]').value = 'report_config';
      panel.querySelector('[data-action="send-command"]').click();
      for (let i = 0; i < 600 && !panel.querySelector('[data-command-id]'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      const card = panel.querySelector('[data-command-id]');
      const id = card.dataset.commandId;
      const now = Date.now();
      for (const [status, at] of [['acknowledged', now + 20], ['sent', now + 10]]) {
        for (const fn of listeners) fn({ type: 'command.transition', at, data: { id, agent_id: agentId, status } });
      }
      const order = [...card.querySelectorAll('[data-step]')].map((li) => li.dataset.step);
      const badge = card.dataset.status;
      scope.close();
      panel.remove();
      return { order, badge };
    })()`)) as { order: string[]; badge: string };
    expect(steps.order).to.deep.equal(['queued', 'sent', 'acknowledged']);
    expect(steps.badge).to.equal('acknowledged');
  });

  it('diffs two 1 MiB configs a few lines apart in the browser (figures printed; best of 5 under 200 ms)', async () => {
    const { page } = browser;
    const before = bigYaml(1024 * 1024);
    const lines = before.split('\n');
    for (let i = 0; i < 10; i++) lines[100 + i * 3000] = `      - to: changed_${i}`;
    const after = lines.join('\n');
    await page.evaluate(`window.diffTexts = ${JSON.stringify([before, after])}`);
    // Diff, render and lay out, five times; the best run is the figure least disturbed by other work on the machine.
    const result = (await page.evaluate(`(async () => {
      const { diffView } = await import('/ui/js/diff.js');
      const [a, b] = window.diffTexts;
      const times = [];
      let node = null;
      for (let run = 0; run < 5; run++) {
        node?.remove();
        const start = performance.now();
        node = diffView(a, b, { from: 'a', to: 'b' });
        document.body.append(node);
        void node.offsetHeight;
        times.push(performance.now() - start);
      }
      return { times, changed: node.dataset.changed, added: [...node.querySelectorAll('.diff-add')].map((e) => e.textContent), nodes: node.querySelectorAll('*').length };
    })()`)) as { times: number[]; changed: string; added: string[]; nodes: number };
    const sorted = [...result.times].sort((x, y) => x - y);
    const best = sorted[0]!;
    console.log(`      1 MiB config diff in chromium (${before.length} bytes, 20 changed lines): best ${best.toFixed(1)} ms, median ${sorted[2]!.toFixed(1)} ms; runs ${result.times.map((t) => t.toFixed(0)).join(', ')} ms; ${result.nodes} elements`);
    expect(result.changed).to.equal('20');
    expect(result.added.join('')).to.include('+       - to: changed_0\n');
    expect(result.nodes).to.be.below(200);
    expect(best).to.be.below(200);
  });
});
