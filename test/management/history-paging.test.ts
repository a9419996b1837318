import { expect } from 'chai';
import { startFusion, type TestFusion } from '../harness/index.js';

describe('paged history: commands and the audit log', function () {
  let fusion: TestFusion;
  before(async () => {
    fusion = await startFusion();
  });
  after(() => fusion.stop());

  async function walk(path: string, key: 'commands' | 'entries', limit: number): Promise<{ pages: number; ids: string[] }> {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const res = await fusion.json('GET', `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      ids.push(...(res.body[key] as Array<{ id: string | number }>).map((r) => String(r.id)));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 50);
    return { pages, ids };
  }

  it('pages commands newest first with a cursor, each command once', async () => {
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await fusion.json('POST', '/api/v1/management/agents/pager/command', { type: 'report_config' })).body.id);
    const { pages, ids } = await walk('/api/v1/management/commands?agent_id=pager', 'commands', 3);
    expect(pages).to.equal(3);
    expect(ids).to.deep.equal([...created].reverse());
  });

  it('pages the audit log newest first, and refuses a cursor from another listing', async () => {
    const all = await walk('/api/v1/management/audit', 'entries', 1000);
    const paged = await walk('/api/v1/management/audit', 'entries', 2);
    expect(paged.ids).to.deep.equal(all.ids);
    expect(paged.pages).to.equal(Math.ceil(all.ids.length / 2));
    const commandCursor = (await fusion.json('GET', '/api/v1/management/commands?limit=1')).body.next_cursor;
    const mixed = await fusion.json('GET', `/api/v1/management/audit?cursor=${commandCursor}`);
    expect([mixed.status, mixed.body.error.code]).to.deep.equal([400, 'bad_cursor']);
  });
});
