import { expect } from 'chai';
import { FusionProcess } from '../harness/fusion-process.js';
import { eventually } from '../harness/eventually.js';
import { RawAgentClient } from '../harness/raw-client.js';

const AGENTS = Number(process.env.FUSTOR_CRASH_AGENTS ?? 400);

/**
 * A credential is committed before `welcome` carries it: Fusion killed with
 * SIGKILL in the middle of 400 parallel enrollments still accepts every
 * credential an agent received.
 */
describe('security: enrollment survives kill -9', function () {
  this.timeout(60_000);
  let fusion: FusionProcess;
  const clients: RawAgentClient[] = [];

  before(async () => {
    // The 400 agents all dial from 127.0.0.1: without this, Fusion's limit on sockets one address may
    // have waiting for hello (64) refuses most of them with 429 whenever hellos are slow to be
    // answered (a loaded machine), and too few enrol before the kill for the test to mean anything.
    fusion = await FusionProcess.start({ env: { FUSION_MAX_PENDING_PER_ADDRESS: String(AGENTS * 2) } });
  });
  after(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  it('accepts after a restart every credential handed out before the kill', async () => {
    const received = new Map<string, string>();
    const attempts = Array.from({ length: AGENTS }, async (_, i) => {
      const id = `crash-${i}`;
      try {
        const client = await RawAgentClient.connect(fusion.url, id, fusion.enrollmentToken);
        clients.push(client);
        const welcome = await client.hello();
        if (welcome.credential) received.set(id, welcome.credential);
      } catch {
        // Cut off by the kill: this agent got nothing, so it holds nothing.
      }
    });
    await eventually(() => received.size >= AGENTS / 4, { timeoutMs: 30_000, message: 'enrollments under way' });
    await fusion.kill();
    if (process.env.FUSTOR_TEST_TIMING) console.log(`killed after ${received.size} welcomes`);
    await Promise.all(attempts);
    if (process.env.FUSTOR_TEST_TIMING) console.log('attempts settled');
    for (const c of clients.splice(0)) c.terminate();
    const handedOut = [...received];
    expect(handedOut.length).to.be.within(AGENTS / 4, AGENTS);
    await fusion.restart();
    if (process.env.FUSTOR_TEST_TIMING) console.log('restarted');

    const refused: string[] = [];
    for (let i = 0; i < handedOut.length; i += 50) {
      await Promise.all(
        handedOut.slice(i, i + 50).map(async ([id, credential]) => {
          try {
            const client = await RawAgentClient.connect(fusion.url, id, credential);
            clients.push(client);
            const welcome = await client.hello();
            if (welcome.credential !== undefined) refused.push(`${id}: got a new credential`);
          } catch (err) {
            refused.push(`${id}: ${(err as Error).message}`);
          }
        }),
      );
      for (const c of clients.splice(0)) c.terminate();
    }
    expect(refused, `${refused.length} of ${handedOut.length} credentials refused after the restart`).to.deep.equal([]);
  });
});
