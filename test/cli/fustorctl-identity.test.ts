import { expect } from 'chai';
import { CloseCode } from '../harness/protocol-imports.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { fustorctl } from './cli-harness.js';

describe('fustorctl: enrollments and credentials', () => {
  let fusion: TestFusion;
  const clients: RawAgentClient[] = [];
  const ctl = (argv: string[]) => fustorctl(argv, { url: fusion.url, token: fusion.adminToken });

  beforeEach(async () => {
    fusion = await startFusion({ enrollmentRetryMs: 50 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  it('lists pending enrollments and accepts or rejects them', async () => {
    expect((await ctl(['enrollments'])).stdout).to.equal('no enrollment requests\n');
    const token = (await fusion.json('POST', '/api/v1/management/enrollment-tokens', { name: 'approval', requires_approval: true })).body;
    for (const id of ['node-a', 'node-b']) {
      const raw = await RawAgentClient.connect(fusion.url, id, token.secret);
      clients.push(raw);
      await raw.hello().catch(() => undefined);
      expect(await raw.closed()).to.equal(CloseCode.EnrollmentPending);
    }
    const listed = await ctl(['enrollments', 'pending']);
    expect(listed.status).to.equal(0);
    expect(listed.stdout).to.match(/^AGENT\s+STATE\s+HOST\s+ADDRESS\s+TOKEN\s+ASKED\s+LAST ASKED\s+DECIDED BY$/m);
    expect(listed.stdout).to.match(/^node-a\s+pending\s+test-host\s/m);
    expect(await ctl(['enrollments', 'accept', 'node-a'])).to.deep.include({ status: 0, stdout: 'node-a: accepted (it is enrolled when it next asks)\n' });
    expect((await ctl(['enrollments', 'reject', 'node-b'])).stdout).to.equal('node-b: rejected\n');
    const again = await ctl(['enrollments', 'reject', 'node-b']);
    expect(again.status).to.equal(1);
    expect(again.stderr).to.include('already_rejected');
    const back = await RawAgentClient.connect(fusion.url, 'node-a', token.secret);
    clients.push(back);
    expect((await back.hello()).credential).to.match(/^fagt_/);
    expect(JSON.parse((await ctl(['enrollments', '--json'])).stdout).map((r: any) => r.agent_id)).to.deep.equal(['node-b']);
    expect((await ctl(['enrollments', 'forget', 'node-b'])).stdout).to.equal('forgot the enrollment request of node-b\n');
    expect((await ctl(['enrollments', 'maybe'])).status).to.equal(2);
  });

  it("shows an agent's credentials, rotates them and releases the id", async () => {
    const agent = await fusion.rawAgent('node-1', { hello: false });
    await agent.hello({}, { capabilities: ['patch', 'credential_rotation'] });
    const shown = await ctl(['credential', 'node-1']);
    expect(shown.stdout).to.match(/^CREDENTIAL\s+ISSUED\s+EXPIRES\s+ROTATION$/m);
    expect(shown.stdout.trim().split('\n')).to.have.length(2);
    expect((await ctl(['credential', 'node-1', 'rotate'])).stdout).to.equal('node-1: sent its next credential\n');
    const frame = await agent.next('credential');
    expect(frame.credential).to.match(/^fagt_/);
    agent.send({ type: 'credential_ack', expires_at: frame.expires_at });
    expect(JSON.parse((await ctl(['credential', 'node-1', '--json'])).stdout).credentials).to.have.length(2);
    const released = await ctl(['credential', 'node-1', 'release']);
    expect(released.stdout).to.equal('node-1: released 2 credential(s), disconnected; it may enrol again\n');
    expect(await agent.closed()).to.equal(CloseCode.CredentialExpired);
    expect((await ctl(['credential', 'node-1'])).stdout).to.equal('node-1 holds no live credential\n');
    expect((await ctl(['credential', 'node-1', 'rotate'])).status).to.equal(1);
  });
});
