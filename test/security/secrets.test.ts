import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import YAML from 'yaml';
import { configCachePath } from '../../agent/config/config-cache.js';
import { defaultDriverRegistry } from '../../agent/runtime/driver-registry.js';
import { createPipeRuntime } from '../../agent/runtime/pipe-runtime.js';
import type { AgentConfig } from '../../shared/config/index.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { startAgent, type TestAgent } from '../harness/start-agent.js';
import { FAST_DRIVERS, tempDir, writeTree } from '../agent/runtime-fixtures.js';
import { fastAgent } from '../agent/agent-fixture.js';
import { openPostgres } from '../../server/store/pg-database.js';
import { postgresUrlForHome, testDatabaseBackend } from '../harness/test-database.js';
import { FusionPeer } from '../agent/fusion-peer.js';

/** A pino logger at trace level writing into `lines`, without redaction: whatever is logged, a test sees. */
function capturingLogger(lines: string[]): pino.Logger {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return pino({ level: 'trace' }, sink);
}

/** The real pipe runtime, recording every config it is given (the resolved one). */
function recordingRuntime(seen: AgentConfig[]) {
  return ({ agentId, logger }: { agentId: string; logger: pino.Logger }) => {
    const runtime = createPipeRuntime({ agentId, logger, registry: defaultDriverRegistry(FAST_DRIVERS), retry: { baseMs: 5, capMs: 40 } });
    const apply = runtime.apply.bind(runtime);
    runtime.apply = (config) => {
      seen.push(structuredClone(config));
      return apply(config);
    };
    return runtime;
  };
}

describe('secrets as references', function () {
  this.timeout(20_000);
  let fusion: TestFusion;
  const agents: TestAgent[] = [];
  let dir: { path: string; remove(): Promise<void> };
  const fusionLog: string[] = [];
  const agentLog: string[] = [];

  beforeEach(async () => {
    fusionLog.length = 0;
    agentLog.length = 0;
    fusion = await startFusion({ logger: capturingLogger(fusionLog) });
    dir = await tempDir('fustor-secrets-');
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await fusion.stop();
    await dir.remove();
  });

  it('resolves only into the frames an agent gets; pushes rotations; leaves no value in the database, the logs, reads or reports', async () => {
    const ingestKey = fusion.server.initialSecrets.dataApiKey!;
    expect(ingestKey, 'Fusion generated a data API key').to.be.a('string');
    const wrongKey = `wrong-${randomBytes(12).toString('hex')}`;
    const groupValue = `group-${randomBytes(12).toString('hex')}`;
    const root = path.join(dir.path, 'root');
    await writeTree(root, { 'a.txt': 'aaaa' });

    const config = {
      sources: { src: { driver: 'fs', uri: root } },
      senders: { out: { driver: 'fusion', uri: fusion.url, credential: { key: '${secret:ingest}' } } },
      pipes: { default: { source: 'src', sender: 'out', audit_interval_sec: 0.2 } },
    };
    // A config naming a secret that does not exist is refused, naming it.
    const unknown = await fusion.json('POST', '/api/v1/management/agents/node-1/config/structured', config);
    expect(unknown.status).to.equal(400);
    expect(unknown.body.error).to.include({ code: 'unknown_secret' });
    expect(unknown.body.error.message).to.contain('ingest');

    expect((await fusion.json('POST', '/api/v1/management/secrets', { name: 'ingest', value: ingestKey })).status).to.equal(201);
    expect((await fusion.json('POST', '/api/v1/management/secrets', { name: 'ingest', value: 'x' })).status).to.equal(409);
    expect((await fusion.json('POST', '/api/v1/management/agents/node-1/config/structured', config)).status).to.equal(201);

    // A real agent gets the value: its sender authenticates to the data plane with it.
    const seen: AgentConfig[] = [];
    const ws = await startAgent(fusion, { agentId: 'node-1', logger: capturingLogger(agentLog), runtime: recordingRuntime(seen) as never });
    agents.push(ws);
    const stats = async (): Promise<{ files: number }> =>
      (await (await fetch(`${fusion.url}/api/v1/views/default/stats`, { headers: { 'x-api-key': ingestKey } })).json()) as { files: number };
    await eventually(async () => (await stats()).files === 1);
    expect(seen.at(-1)!.senders.out!.credential!.key).to.equal(ingestKey);
    // What the agent runs, reports and caches as its document keeps the reference.
    expect(ws.agent.snapshot().config.document!.senders.out!.credential!.key).to.equal('${secret:ingest}');

    // Rotation to a wrong key: pushed at once, the pipe restarts with it and is refused by the receiver.
    const before = ws.agent.snapshot().config.signature;
    expect((await fusion.json('PUT', '/api/v1/management/secrets/ingest', { value: wrongKey })).body).to.include({ name: 'ingest', version: 2 });
    await eventually(() => seen.at(-1)!.senders.out!.credential!.key === wrongKey);
    expect(ws.agent.snapshot().config.signature, 'same document, same signature').to.equal(before);
    await eventually(() => ws.agent.snapshot().pipes[0]?.state === 'error', { message: 'pipe refused with the wrong key' });
    // And back: the pipe runs again and new files reach the view.
    await fusion.json('PUT', '/api/v1/management/secrets/ingest', { value: ingestKey });
    await writeTree(root, { 'b.txt': 'bb' });
    await eventually(async () => (await stats()).files === 2);

    // The agent's cache holds the values (for a start without Fusion): mode 0600.
    const cacheFile = configCachePath(ws.home);
    expect((await stat(cacheFile)).mode & 0o777).to.equal(0o600);

    // report_config reports the reference.
    const command = await fusion.json('POST', '/api/v1/management/agents/node-1/command', { type: 'report_config' });
    expect(command.status).to.equal(202);
    const reported = await eventually(async () => {
      const r = await fusion.json('GET', '/api/v1/management/agents/node-1/config/reported');
      return r.status === 200 ? r.body : null;
    });
    expect(JSON.stringify(reported)).to.contain('${secret:ingest}').and.not.contain(ingestKey);

    // A viewer reads the reference, never the value; the secret list shows who uses it.
    const viewer = await fusion.json('POST', '/api/v1/management/admin-tokens', { name: 'look', role: 'viewer' });
    const asViewer = (p: string) => fetch(`${fusion.url}${p}`, { headers: { authorization: `Bearer ${viewer.body.secret}`, accept: 'application/json' } });
    const read = await (await asViewer('/api/v1/management/agents/node-1/config')).text();
    expect(read).to.contain('${secret:ingest}').and.not.contain(ingestKey);
    const listed = (await (await asViewer('/api/v1/management/secrets')).json()) as { secrets: unknown[] };
    expect(listed.secrets).to.deep.equal([
      { ...(listed.secrets[0] as object), name: 'ingest', version: 3, users: { agents: ['node-1'], groups: [] } },
    ]);
    expect(JSON.stringify(listed)).to.not.contain(ingestKey);
    expect((await fusion.json('DELETE', '/api/v1/management/secrets/ingest')).body.error).to.include({ code: 'secret_in_use' });

    // A group template references a secret; a polling member gets it resolved and follows rotations.
    await fusion.json('POST', '/api/v1/management/secrets', { name: 'group-key', value: groupValue });
    const template = YAML.stringify({
      sources: { src: { driver: 'fs', uri: root } },
      senders: { out: { driver: 'fusion', uri: fusion.url, credential: { key: 'k-${secret:group-key}' } } },
      pipes: { p: { source: 'src', sender: 'out', disabled: true } },
    });
    const badGroup = await fusion.json('POST', '/api/v1/management/groups', { name: 'g', template: template.replace('group-key', 'nope') });
    expect(badGroup.body.error).to.include({ code: 'unknown_secret' });
    expect((await fusion.json('POST', '/api/v1/management/groups', { name: 'g', template })).status).to.equal(201);
    expect((await fusion.json('PUT', '/api/v1/management/groups/g/members/poller', {})).status).to.equal(200);
    const polled: AgentConfig[] = [];
    const poller = await startAgent(fusion, {
      agentId: 'poller',
      transport: 'poll',
      pollIntervalSec: 0.05,
      logger: capturingLogger(agentLog),
      runtime: recordingRuntime(polled) as never,
    });
    agents.push(poller);
    await eventually(() => polled.at(-1)?.senders.out?.credential?.key === `k-${groupValue}`);
    const rotated = `rotated-${randomBytes(12).toString('hex')}`;
    await fusion.json('PUT', '/api/v1/management/secrets/group-key', { value: rotated });
    await eventually(() => polled.at(-1)?.senders.out?.credential?.key === `k-${rotated}`);
    const groupSecret = await fusion.json('GET', '/api/v1/management/secrets/group-key');
    expect(groupSecret.body.users).to.deep.equal({ agents: ['poller'], groups: ['g'] });

    // A value put in the query string by mistake is not taken, and not audited either.
    expect((await fusion.json('PUT', `/api/v1/management/secrets/ingest?value=${wrongKey}`, {})).status).to.equal(400);
    // The audit of secret writes names the secret, not the value.
    const audit = await fusion.json('GET', '/api/v1/management/audit?target=secrets');
    expect(audit.body.entries.map((e: { target: string }) => e.target)).to.include('secrets/ingest');

    // Nothing on disk or in a log holds a value: database, its WAL, both logs.
    const values = [ingestKey, wrongKey, groupValue, rotated];
    const stored = await storedState(fusion.home);
    for (const [where, bytes] of stored) {
      expect(bytes.length, where).to.be.greaterThan(0);
      for (const value of values) expect(bytes.includes(Buffer.from(value)), `${value} in ${where}`).to.equal(false);
    }
    const logs = [...fusionLog, ...agentLog].join('');
    expect(fusionLog.length).to.be.greaterThan(0);
    for (const value of values) expect(logs.includes(value), `${value} in the logs`).to.equal(false);
    // The references did reach the database (the greps above can find what is there).
    expect(stored.some(([, bytes]) => bytes.includes(Buffer.from('${secret:ingest}')))).to.equal(true);
  });

  it('keeps the state directory 0700 and the database, WAL, fusion.yaml and key files 0600', async () => {
    await fusion.json('POST', '/api/v1/management/secrets', { name: 's', value: 'v' });
    const mode = async (p: string): Promise<number> => (await stat(path.join(fusion.home, p))).mode & 0o777;
    expect(await mode('.')).to.equal(0o700);
    // On PostgreSQL the home holds no database file.
    const files = testDatabaseBackend() === 'postgres' ? ['fusion.yaml', 'secret.key'] : ['fusion.db', 'fusion.db-wal', 'fusion.db-shm', 'fusion.yaml', 'secret.key'];
    for (const file of files) expect(await mode(file), file).to.equal(0o600);
  });

  it('sends the values with the document; stores a resolved report with references; an agent given references without values NACKs naming them', async () => {
    await fusion.json('POST', '/api/v1/management/secrets', { name: 'k', value: 'v' });
    const client = await fusion.rawAgent('raw-1');
    const document = { sources: {}, senders: { out: { driver: 'fusion', uri: 'http://x', credential: { key: '${secret:k}' } } }, pipes: {} };
    expect((await fusion.json('POST', '/api/v1/management/agents/raw-1/config/structured', document)).status).to.equal(201);
    const frame = await client.next('config');
    expect(frame).to.deep.include({ secrets: { k: 'v' } });
    expect(frame.secrets_digest).to.match(/^sha256:/);

    // A report of the resolved document (an agent of another version) is stored with the reference.
    const longValue = `long-${randomBytes(12).toString('hex')}`;
    await fusion.json('PUT', '/api/v1/management/secrets/k', { value: longValue });
    const resolved = { ...document, senders: { out: { ...document.senders.out, credential: { key: `x-${longValue}` } } } };
    client.send({ type: 'config_report', signature: frame.signature, revision: 1, source: 'remote', document: resolved });
    const reported = await eventually(async () => {
      const r = await fusion.json('GET', '/api/v1/management/agents/raw-1/config/reported');
      return r.status === 200 ? r.body : null;
    });
    expect(JSON.stringify(reported)).to.contain('x-${secret:k}').and.not.contain(longValue);

    const peer = await FusionPeer.start({
      onHello: (_hello, socket, p) => {
        p.welcome(socket);
        p.send({ type: 'config', encoding: 'full', revision: 1, signature: frame.signature, document: (frame as { document: Record<string, unknown> }).document });
      },
    });
    const agent = fastAgent(dir.path, { controlPlaneUri: peer.url, authToken: 'peer-token' });
    try {
      await agent.start();
      const nack = await eventually(() => peer.framesOf('config_status').find((s) => s.status === 'failed'));
      expect(nack.error).to.contain('secret(s) k').and.contain('without their values');
      expect(agent.snapshot().config.signature).to.equal(null);
    } finally {
      await agent.stop();
      await peer.stop();
    }
  });

  it('takes the digest an agent replays: nothing is resent when current; a rotation is an empty patch with the new values', async () => {
    const document = { sources: {}, senders: { out: { driver: 'fusion', uri: 'http://x', credential: { key: '${secret:k}' } } }, pipes: {} };
    await fusion.json('POST', '/api/v1/management/secrets', { name: 'k', value: 'first-value' });
    expect((await fusion.json('POST', '/api/v1/management/agents/d-1/config/structured', document)).status).to.equal(201);
    const first = await fusion.rawAgent('d-1', { hello: false });
    const welcome = await first.hello();
    const full = await first.next('config');
    expect(full).to.deep.include({ encoding: 'full', secrets: { k: 'first-value' } });
    const token = welcome.credential ?? fusion.enrollmentToken;
    const running = { signature: full.signature, revision: full.revision, source: 'remote' as const };

    // Back with the signature and the digest it runs: the next frame is the command, no config before it.
    const again = await fusion.rawAgent('d-1', { token, hello: false });
    await again.hello({ ...running, secrets_digest: full.secrets_digest! });
    await fusion.json('POST', '/api/v1/management/agents/d-1/command', { type: 'report_config' });
    await again.next('command');
    expect(again.frames.map((f) => f.type)).to.deep.equal(['welcome', 'command']);

    // A rotation reaches it as an empty patch to the same signature.
    await fusion.json('PUT', '/api/v1/management/secrets/k', { value: 'second-value' });
    const rotation = await again.next('config');
    expect(rotation).to.deep.include({ encoding: 'patch', patch: [], base_signature: full.signature, signature: full.signature, secrets: { k: 'second-value' } });
    expect(rotation.secrets_digest).to.match(/^sha256:/).and.not.equal(full.secrets_digest);

    // An agent that comes back with the old digest gets the rotation at once.
    const stale = await fusion.rawAgent('d-1', { token, hello: false });
    await stale.hello({ ...running, secrets_digest: full.secrets_digest! });
    expect(await stale.next('config')).to.deep.include({ encoding: 'patch', patch: [], secrets: { k: 'second-value' } });
  });

  it('refuses an unknown secret wherever a group takes a reference: template save, member variables and override, a reviewed change approved after its secret was deleted', async () => {
    const refused = (answer: { status: number; body: any }, name: string): void => {
      expect(answer.status, JSON.stringify(answer.body)).to.equal(400);
      expect(answer.body.error).to.include({ code: 'unknown_secret' });
      expect(answer.body.error.details).to.deep.equal({ secrets: [name] });
    };
    const template = (name: string): string =>
      YAML.stringify({ sources: { src: { driver: 'fs', uri: '/data' } }, senders: { out: { driver: 'fusion', uri: fusion.url, credential: { key: `\${secret:${name}}` } } }, pipes: { p: { source: 'src', sender: 'out', disabled: true } } });
    expect((await fusion.json('POST', '/api/v1/management/secrets', { name: 'known', value: 'known-value-1' })).status).to.equal(201);
    expect((await fusion.json('POST', '/api/v1/management/groups', { name: 'g', template: template('known') })).status).to.equal(201);
    refused(await fusion.json('PUT', '/api/v1/management/groups/g/template', { template: template('nope') }), 'nope');
    expect((await fusion.json('GET', '/api/v1/management/groups/g')).body.revision).to.equal(1);

    const override = { senders: { out: { credential: { key: '${secret:nope}' } } } };
    refused(await fusion.json('PUT', '/api/v1/management/groups/g/members/a1', { override }), 'nope');
    expect((await fusion.json('GET', '/api/v1/management/groups/g/members/a1')).status, 'nothing stored').to.equal(404);
    expect((await fusion.json('PUT', '/api/v1/management/groups/g/members/a1', {})).status).to.equal(200);
    refused(await fusion.json('PATCH', '/api/v1/management/groups/g/members/a1', { variables: { key: '${secret:nope}' } }), 'nope');

    // Under review: checked when proposed, and again when approved.
    expect((await fusion.json('PATCH', '/api/v1/management/groups/g', { require_review: true })).status).to.equal(200);
    refused(await fusion.json('PATCH', '/api/v1/management/groups/g/members/a1', { override }), 'nope');
    await fusion.json('POST', '/api/v1/management/secrets', { name: 'brief', value: 'brief-value-1' });
    const proposed = await fusion.json('PATCH', '/api/v1/management/groups/g/members/a1', { override: { senders: { out: { credential: { key: '${secret:brief}' } } } } });
    expect(proposed.status).to.equal(202);
    expect((await fusion.json('DELETE', '/api/v1/management/secrets/brief')).status, 'no config references it yet').to.equal(204);
    const other = (await fusion.json('POST', '/api/v1/management/admin-tokens', { name: 'reviewer', role: 'admin' })).body.secret as string;
    const approve = await fetch(`${fusion.url}/api/v1/management/changes/${proposed.body.change.id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json' },
      body: '{}',
    });
    refused({ status: approve.status, body: await approve.json() }, 'brief');
    expect((await fusion.json('GET', '/api/v1/management/groups/g/members/a1')).body.override).to.equal(null);
  });

  it('never deletes a secret that a config saved at the same time references: the delete or the save is refused', async () => {
    const config = (name: string) => ({
      sources: { src: { driver: 'fs', uri: '/data' } },
      senders: { out: { driver: 'fusion', uri: fusion.url, credential: { key: `\${secret:${name}}` } } },
      pipes: { p: { source: 'src', sender: 'out', disabled: true } },
    });
    // The delete goes first; the save follows after 0 to 9 ms, so that some rounds check the secret before the delete commits and store after it.
    for (let i = 0; i < 10; i++) {
      const name = `racing-${i}`;
      expect((await fusion.json('POST', '/api/v1/management/secrets', { name, value: `value-of-${name}` })).status).to.equal(201);
      const [deleted, saved] = await Promise.all([
        fusion.json('DELETE', `/api/v1/management/secrets/${name}`),
        new Promise((resolve) => setTimeout(resolve, i)).then(() => fusion.json('POST', `/api/v1/management/agents/racer-${i}/config/structured`, config(name))),
      ]);
      const outcome = `${name}: delete ${deleted.status}, save ${saved.status}`;
      if (deleted.status === 204) expect([saved.status, saved.body.error?.code], outcome).to.deep.equal([400, 'unknown_secret']);
      else expect([deleted.status, deleted.body.error?.code, saved.status], outcome).to.deep.equal([409, 'secret_in_use', 201]);
    }
    // The same for a group's template.
    expect((await fusion.json('POST', '/api/v1/management/groups', { name: 'racing', template: YAML.stringify(config('none')).replace('${secret:none}', '/none') })).status).to.equal(201);
    for (let i = 0; i < 10; i++) {
      const name = `templated-${i}`;
      expect((await fusion.json('POST', '/api/v1/management/secrets', { name, value: `value-of-${name}` })).status).to.equal(201);
      const [deleted, saved] = await Promise.all([
        fusion.json('DELETE', `/api/v1/management/secrets/${name}`),
        new Promise((resolve) => setTimeout(resolve, i)).then(() => fusion.json('PUT', '/api/v1/management/groups/racing/template', { template: YAML.stringify(config(name)) })),
      ]);
      const outcome = `${name}: delete ${deleted.status}, template ${saved.status}`;
      if (deleted.status === 204) expect([saved.status, saved.body.error?.code], outcome).to.deep.equal([400, 'unknown_secret']);
      else expect([deleted.status, deleted.body.error?.code, saved.status], outcome).to.deep.equal([409, 'secret_in_use', 200]);
    }
  });

  it('never deletes a secret that a member change made at the same time references: the delete or the change is refused', async () => {
    const template = YAML.stringify({
      sources: { src: { driver: 'fs', uri: '/data' } },
      senders: { out: { driver: 'fusion', uri: fusion.url, credential: { key: 'plain' } } },
      pipes: { p: { source: 'src', sender: 'out', disabled: true } },
    });
    expect((await fusion.json('POST', '/api/v1/management/groups', { name: 'racing-members', template })).status).to.equal(201);
    // The delete goes first; the member change follows after 0 to 9 ms (a new member's PUT, then a PATCH of one).
    for (let i = 0; i < 20; i++) {
      const name = `member-secret-${i}`;
      const agent = `member-racer-${i % 10}`;
      expect((await fusion.json('POST', '/api/v1/management/secrets', { name, value: `value-of-${name}` })).status).to.equal(201);
      const override = { senders: { out: { credential: { key: `\${secret:${name}}` } } } };
      const change = i < 10 ? () => fusion.json('PUT', `/api/v1/management/groups/racing-members/members/${agent}`, { override }) : () => fusion.json('PATCH', `/api/v1/management/groups/racing-members/members/${agent}`, { override });
      const [deleted, changed] = await Promise.all([
        fusion.json('DELETE', `/api/v1/management/secrets/${name}`),
        new Promise((resolve) => setTimeout(resolve, i % 10)).then(change),
      ]);
      const outcome = `${name}: delete ${deleted.status}, member ${changed.status}`;
      if (deleted.status === 204) expect([changed.status, changed.body.error?.code], outcome).to.deep.equal([400, 'unknown_secret']);
      else expect([deleted.status, deleted.body.error?.code, changed.status], outcome).to.deep.equal([409, 'secret_in_use', 200]);
      if (i >= 10 || changed.status === 200) continue;
      // A refused first change leaves no member: the PATCH rounds need one.
      expect((await fusion.json('PUT', `/api/v1/management/groups/racing-members/members/${agent}`, {})).status).to.equal(200);
    }
  });
});

/**
 * Everything Fusion stored, as bytes to search: the SQLite file and its WAL,
 * or on PostgreSQL every row of every table of the home's schema as text.
 */
async function storedState(home: string): Promise<Array<[string, Buffer]>> {
  if (testDatabaseBackend() !== 'postgres') {
    return Promise.all(['fusion.db', 'fusion.db-wal'].map(async (f): Promise<[string, Buffer]> => [f, await readFile(path.join(home, f))]));
  }
  const sql = await openPostgres(await postgresUrlForHome(home), { maxConnections: 1 });
  try {
    const tables = await sql.all<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
    const dumped: Array<[string, Buffer]> = [];
    for (const { name } of tables) {
      const rows = await sql.all<{ row: string }>(`SELECT CAST(t AS TEXT) AS row FROM ${name} t`);
      dumped.push([`table ${name}`, Buffer.from(`${name}\n${rows.map((r) => r.row).join('\n')}`)]);
    }
    return dumped;
  } finally {
    await sql.close();
  }
}
