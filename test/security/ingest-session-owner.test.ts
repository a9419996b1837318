import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeTree } from '../agent/runtime-fixtures.js';
import { eventually } from '../harness/eventually.js';
import { DataPlaneWorld, KEYS } from '../e2e/dataplane-world.js';

/** Another holder of a pipe's data key cannot push into, heartbeat or close a real agent's ingest session. */
describe('security: an ingest session belongs to its opener', () => {
  let world: DataPlaneWorld;

  beforeEach(async () => {
    world = await DataPlaneWorld.start();
  });
  afterEach(() => world.close());

  it('refuses a raw client with the same key on the agent\'s session; the agent keeps pushing', async () => {
    const root = await world.mkdir('tree');
    await writeTree(root, { 'a.txt': 'aaaa' });
    await world.pushConfig('node-a', { main: { root, key: KEYS.a } });
    const agent = world.agent('node-a');
    await agent.start();
    await eventually(async () => JSON.stringify(await world.listing('va', KEYS.a)) === JSON.stringify(['a.txt:4']));
    const { sessions } = await world.view<{ sessions: Array<{ session_id: string }> }>('va', 'sessions', KEYS.a);
    const sessionId = sessions[0]!.session_id;

    const base = `${world.fusion.url}/api/v1/pipe/sessions/${sessionId}`;
    const asIntruder = (method: string, suffix = '', body?: unknown): Promise<Response> =>
      fetch(`${base}${suffix}`, {
        method,
        headers: { 'x-api-key': KEYS.a, 'content-type': 'application/json', 'x-session-token': 'guessed' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    const pushed = await asIntruder('POST', '/events', { events: [{ op: 'upsert', path: 'evil.txt', type: 'file', size: 1, mtime_ms: 1, mode: 0o100644 }] });
    expect(pushed.status).to.equal(404);
    expect(((await pushed.json()) as any).error.code).to.equal('session_not_found');
    expect((await asIntruder('POST', '/heartbeat')).status).to.equal(404);
    expect((await asIntruder('DELETE')).status).to.equal(404);

    expect(await world.listing('va', KEYS.a)).to.deep.equal(['a.txt:4']);
    const after = await world.view<{ sessions: Array<{ session_id: string }> }>('va', 'sessions', KEYS.a);
    expect(after.sessions.map((s) => s.session_id)).to.deep.equal([sessionId]);
    await writeFile(path.join(root, 'b.txt'), 'bb');
    await eventually(async () => JSON.stringify(await world.listing('va', KEYS.a)) === JSON.stringify(['a.txt:4', 'b.txt:2']), { timeoutMs: 15_000 });
  });
});
