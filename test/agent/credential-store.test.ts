import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { chmod, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CloseCode } from '../../shared/protocol/index.js';
import { CredentialStore, StoredCredential } from '../../agent/credentials/credential-store.js';
import { tempHome } from '../harness/temp-home.js';
import { AGENT_ID, memoryLogger } from './agent-fixture.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('agent credential store', () => {
  let home: { path: string; remove(): Promise<void> };
  const open = (bootstrapToken: string, agentId = AGENT_ID): { store: CredentialStore; lines: Array<Record<string, unknown>> } => {
    const { logger, lines } = memoryLogger('trace');
    return { store: new CredentialStore({ home: home.path, agentId, bootstrapToken, logger }), lines };
  };

  beforeEach(async () => {
    home = await tempHome('agent-state-');
  });
  afterEach(async () => {
    await home.remove();
  });

  it('presents the bootstrap token until a credential is stored, then the credential, also after a restart', async () => {
    const { store } = open('enroll-1');
    expect(await store.current()).to.deep.equal({ token: 'enroll-1', kind: 'bootstrap' });
    await store.enrolled('cred-1');
    expect(await store.current()).to.deep.equal({ token: 'cred-1', kind: 'credential' });
    expect((await stat(store.file)).mode & 0o777).to.equal(0o600);
    const saved = StoredCredential.parse(JSON.parse(await readFile(store.file, 'utf8')));
    expect(saved).to.include({ agent_id: AGENT_ID, credential: 'cred-1', enrollment_token_sha256: sha256('enroll-1') });
    expect(Date.parse(saved.enrolled_at)).to.be.closeTo(Date.now(), 5_000);
    expect(await open('enroll-1').store.current()).to.deep.equal({ token: 'cred-1', kind: 'credential' });
  });

  it('presents its credential after the bootstrap token changed, and the bootstrap token for another agent id', async () => {
    await open('enroll-1').store.enrolled('cred-1');
    expect(await open('enroll-2').store.current()).to.deep.equal({ token: 'cred-1', kind: 'credential' });
    expect(await open('enroll-1', 'node-2').store.current()).to.deep.equal({ token: 'enroll-1', kind: 'bootstrap' });
    const { store } = open('enroll-2');
    await store.enrolled('cred-2');
    expect(JSON.parse(await readFile(store.file, 'utf8'))).to.include({ credential: 'cred-2', enrollment_token_sha256: sha256('enroll-2') });
  });

  it('on an unknown or expired credential falls back to the previous one, then to enrolling again, never to a revocation', async () => {
    const { store } = open('enroll-1');
    const later = Date.now() + 3_600_000;
    await store.enrolled('cred-1', later);
    await store.enrolled('cred-2', later + 1);
    expect(JSON.parse(await readFile(store.file, 'utf8')).previous).to.deep.equal([{ credential: 'cred-1', expires_at: later }]);
    const first = (await store.current())!;
    expect(first).to.deep.equal({ token: 'cred-2', kind: 'credential' });
    expect(await store.refused(first, { status: 401, code: 'credential_unknown' })).to.equal(false);
    const second = (await store.current())!;
    expect(second).to.deep.equal({ token: 'cred-1', kind: 'credential' });
    expect(await store.refused(second, { closeCode: CloseCode.CredentialExpired })).to.equal(false);
    expect(await store.current()).to.deep.equal({ token: 'enroll-1', kind: 'bootstrap' });
    expect(await stat(store.revokedFile).then(() => true, () => false)).to.equal(false);
    // An expired previous credential is not tried.
    await store.enrolled('cred-3', Date.now() - 1);
    await store.enrolled('cred-4', later);
    expect(await store.refused((await store.current())!, { status: 401, code: 'credential_expired' })).to.equal(false);
    expect(await store.current()).to.deep.equal({ token: 'enroll-1', kind: 'bootstrap' });
  });

  it('on a revocation deletes the credential and never presents the enrollment token it was revoked under', async () => {
    const { store, lines } = open('enroll-1');
    await store.enrolled('cred-1');
    const presented = (await store.current())!;
    expect(await store.refused(presented, { closeCode: CloseCode.Revoked })).to.equal(true);
    expect(await store.current()).to.equal(null);
    expect(await exists(store.file)).to.equal(false);
    expect(lines.some((l) => l.level === 50 && /new enrollment token is needed/.test(String(l.msg)))).to.equal(true);
    // A restart with the same token does not re-enroll with it; a new token does.
    expect(await open('enroll-1').store.current()).to.equal(null);
    expect(await open('enroll-2').store.current()).to.deep.equal({ token: 'enroll-2', kind: 'bootstrap' });
    expect((await stat(store.revokedFile)).mode & 0o777).to.equal(0o600);
    expect(JSON.stringify(lines), JSON.stringify(lines.filter((l) => JSON.stringify(l).includes('cred-1')))).not.to.include('cred-1');
  });

  it('counts a 401 as a revocation only when it answered the stored credential', async () => {
    const { store } = open('enroll-1');
    expect(await store.refused({ token: 'enroll-1', kind: 'bootstrap' }, { status: 401 })).to.equal(false);
    expect(await store.refused({ token: 'enroll-1', kind: 'bootstrap' }, { closeCode: CloseCode.Unauthorized })).to.equal(false);
    expect(await store.current()).to.deep.equal({ token: 'enroll-1', kind: 'bootstrap' });
    await store.enrolled('cred-1');
    expect(await store.refused({ token: 'cred-1', kind: 'credential' }, { status: 403 })).to.equal(false);
    expect(await store.current()).to.deep.equal({ token: 'cred-1', kind: 'credential' });
    expect(await store.refused({ token: 'cred-1', kind: 'credential' }, { status: 401 })).to.equal(true);
    expect(await store.current()).to.equal(null);
  });

  it('ignores a malformed credential file and narrows a file readable by others to 0600', async () => {
    const dir = path.join(home.path, 'agent-state');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'credential.json'), '{"credential": 42');
    const broken = open('enroll-1');
    expect(await broken.store.current()).to.deep.equal({ token: 'enroll-1', kind: 'bootstrap' });
    expect(broken.lines.some((l) => /malformed/.test(String(l.msg)))).to.equal(true);

    await open('enroll-1').store.enrolled('cred-1');
    await chmod(path.join(dir, 'credential.json'), 0o644);
    const widened = open('enroll-1');
    expect(await widened.store.current()).to.deep.equal({ token: 'cred-1', kind: 'credential' });
    expect((await stat(widened.store.file)).mode & 0o777).to.equal(0o600);
  });
});

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
