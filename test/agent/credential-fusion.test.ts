import { expect } from 'chai';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Agent } from '../../agent/agent.js';
import type { ConnectionEnd } from '../../agent/control/types.js';
import { CloseCode } from '../../shared/protocol/index.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { AGENT_ID, fastAgent, memoryLogger } from './agent-fixture.js';

describe('agent credential against Fusion: enroll, outlive the enrollment token, revoke, re-enroll', () => {
  let fusion: TestFusion;
  let home: { path: string; remove(): Promise<void> };
  let agent: Agent | undefined;
  const credentialFile = (): string => path.join(home.path, 'agent-state', 'credential.json');
  const storedCredential = async (): Promise<string> => (JSON.parse(await readFile(credentialFile(), 'utf8')) as { credential: string }).credential;
  const post = (url: string, body: unknown = {}): Promise<Response> =>
    fusion.api(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const online = async (): Promise<boolean> => ((await (await fusion.api(`/api/v1/management/agents/${AGENT_ID}`)).json()) as { online: boolean }).online;

  beforeEach(async () => {
    fusion = await startFusion({ failedAuthLimits: { max: 10_000, windowMs: 60_000 } });
    home = await tempHome('agent-fusion-cred-');
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await fusion.stop();
    await home.remove();
  });

  it('goes through the whole credential life cycle', async () => {
    agent = fastAgent(home.path, { controlPlaneUri: fusion.url, authToken: fusion.enrollmentToken });
    await agent.start();
    await eventually(() => stat(credentialFile()));
    const credential = await storedCredential();
    expect(credential).to.match(/^fagt_/);

    // Revoking the enrollment token leaves the enrolled agent able to come back.
    const tokens = (await (await fusion.api('/api/v1/management/enrollment-tokens')).json()) as { tokens: Array<{ id: string }> };
    for (const token of tokens.tokens) expect((await fusion.api(`/api/v1/management/enrollment-tokens/${token.id}`, { method: 'DELETE' })).status).to.equal(200);
    await agent.stop();
    agent = fastAgent(home.path, { controlPlaneUri: fusion.url, authToken: fusion.enrollmentToken });
    await agent.start();
    await eventually(() => agent!.snapshot().sessionId);
    expect(await storedCredential()).to.equal(credential);

    // Revoking the agent closes it with 4002; it deletes the credential and stays out.
    const { logger, lines } = memoryLogger('info');
    await agent.stop();
    agent = fastAgent(home.path, { controlPlaneUri: fusion.url, authToken: fusion.enrollmentToken, logger });
    const ends: Array<ConnectionEnd | undefined> = [];
    agent.on('disconnected', (end) => ends.push(end));
    await agent.start();
    await eventually(() => agent!.snapshot().sessionId);
    expect((await post(`/api/v1/management/agents/${AGENT_ID}/revoke`)).status).to.equal(200);
    await eventually(() => ends.length === 1);
    expect(ends[0]!.code).to.equal(CloseCode.Revoked);
    await eventually(async () => stat(credentialFile()).then(() => false, () => true));
    await eventually(() => lines.filter((l) => /waiting for a new enrollment token/.test(String(l.msg))).length >= 2);
    expect(await online()).to.equal(false);

    // A new enrollment token brings it back with a new credential.
    const created = (await (await post('/api/v1/management/enrollment-tokens', { name: 'node-1 again' })).json()) as { secret: string };
    await agent.stop();
    agent = fastAgent(home.path, { controlPlaneUri: fusion.url, authToken: created.secret });
    await agent.start();
    await eventually(() => stat(credentialFile()));
    expect(await storedCredential()).to.match(/^fagt_/).and.not.equal(credential);
    expect(await online()).to.equal(true);
  });
});
