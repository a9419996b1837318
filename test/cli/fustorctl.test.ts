import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { sampleYaml } from '../harness/sample-config.js';
import { tempHome } from '../harness/temp-home.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, createGroup, withAudit } from '../groups/group-fixture.js';
import { fustorctl, startFustorctl } from './cli-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('fustorctl', () => {
  let fusion: TestFusion;
  let dir: Awaited<ReturnType<typeof tempHome>>;
  const ctl = (argv: string[], options: Parameters<typeof fustorctl>[1] = {}) => fustorctl(argv, { url: fusion.url, token: fusion.adminToken, ...options });

  beforeEach(async () => {
    fusion = await startFusion();
    dir = await tempHome('fustorctl-');
  });
  afterEach(async () => {
    await fusion.stop();
    await dir.remove();
  });

  it('lists agents and shows one, as text or --json', async () => {
    expect(await ctl(['agents'])).to.deep.equal({ status: 0, stdout: 'no agents yet\n', stderr: '' });
    await fusion.rawAgent('node-1');
    const list = await ctl(['agents']);
    expect(list.status).to.equal(0);
    const [header, row] = list.stdout.trim().split('\n');
    expect(header).to.match(/^AGENT\s+STATUS\s+VERSION\s+ADDRESS\s+CONFIG\s+DESIRED\s+DRIFT\s+LAST SEEN\s+LABELS$/);
    expect(row).to.match(/^node-1\s+online\s+0\.0\.0-test\s+\S+\s+no config\s+-\s+-\s+now\s+-$/);

    const asJson = await ctl(['agents', '--json']);
    expect(JSON.parse(asJson.stdout).agents[0]).to.include({ agent_id: 'node-1', online: true });
    const one = await ctl(['agent', 'node-1']);
    expect(one.stdout).to.match(/^agent:\s+node-1$/m);
    expect(one.stdout).to.match(/^status:\s+online since /m);
    expect(JSON.parse((await ctl(['agent', 'node-1', '--json'])).stdout)).to.include({ agent_id: 'node-1', version: '0.0.0-test' });
  });

  it("shows an agent's pipes, and says they are last reported once it is offline", async () => {
    const client = await fusion.rawAgent('node-1');
    client.send({ type: 'status', pipes: [{ id: 'research', state: 'running', records_sent: 12, last_error: null }] });
    await eventually(async () => expect((await ctl(['agent', 'node-1'])).stdout).to.match(/^research\s+running\s+12\s+-$/m));
    expect((await ctl(['agent', 'node-1'])).stdout).to.not.include('last reported');
    client.close();
    await eventually(async () => expect((await ctl(['agent', 'node-1'])).stdout).to.match(/^status:\s+offline/m));
    const shown = (await ctl(['agent', 'node-1'])).stdout;
    expect(shown).to.match(/^pipes as last reported .* \(the agent is offline; these states are not live\)$/m);
    expect(shown).to.match(/^research\s+running\s+12\s+-$/m);
  });

  it('sets a config from a file or stdin and gets it back, honouring --if-match', async () => {
    const file = join(dir.path, 'node-1.yaml');
    await writeFile(file, sampleYaml());
    const saved = await ctl(['config', 'set', 'node-1', file]);
    expect(saved.status).to.equal(0, saved.stderr);
    expect(saved.stdout).to.match(/^saved agent node-1: revision 1, sha256:[0-9a-f]{64}\n$/);
    const signature = /sha256:[0-9a-f]{64}/.exec(saved.stdout)![0];

    const got = await ctl(['config', 'get', 'node-1']);
    expect(got.stdout).to.equal(sampleYaml());
    const out = join(dir.path, 'copy.yaml');
    const written = await ctl(['config', 'get', 'node-1', out]);
    expect(written.stderr).to.equal(`wrote ${out} (revision 1, ${signature})\n`);
    expect(await readFile(out, 'utf8')).to.equal(sampleYaml());
    expect((await stat(out)).mode & 0o777).to.equal(0o600);

    const stale = await ctl(['config', 'set', 'node-1', file, '--if-match', `sha256:${'0'.repeat(64)}`]);
    expect(stale.status).to.equal(1);
    expect(stale.stderr).to.include('[precondition_failed]');
    expect(stale.stderr).to.include(`current_signature: ${signature}`);

    const piped = await ctl(['config', 'set', 'node-1', '--if-match', signature, '--json'], { stdin: sampleYaml({ pipes: 2 }) });
    expect(piped.status).to.equal(0, piped.stderr);
    expect(JSON.parse(piped.stdout)).to.include({ agent_id: 'node-1', revision: 2 });
    const first = await ctl(['config', 'get', 'node-1', '--revision', '1', '--json']);
    expect(JSON.parse(first.stdout)).to.include({ revision: 1, signature });
  });

  it('gets and sets a group template with --group', async () => {
    const template = (audit: number) => `# web servers\nsources:\n  data: { driver: fs, uri: "/srv/\${agent_id}" }\nsenders:\n  out: { driver: fusion, uri: http://127.0.0.1:1, credential: { key: k } }\npipes:\n  main: { source: data, sender: out, audit_interval_sec: ${audit} }\n`;
    const created = await fusion.api('/api/v1/management/groups', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'web', description: 'web servers', template: template(300) }),
    });
    expect(created.status).to.equal(201, await created.clone().text());
    await created.arrayBuffer();
    expect((await ctl(['config', 'get', 'web', '--group'])).stdout).to.equal(template(300));

    const file = join(dir.path, 'web.yaml');
    await writeFile(file, template(600));
    const saved = await ctl(['config', 'set', 'web', file, '--group']);
    expect(saved.status).to.equal(0, saved.stderr);
    expect(saved.stdout).to.match(/^saved group web: revision 2, sha256:[0-9a-f]{64}/);
    expect((await ctl(['config', 'get', 'web', '--group'])).stdout).to.equal(template(600));
    expect((await ctl(['config', 'get', 'web', '--group', '--revision', '1'])).stdout).to.equal(template(300));
    expect(JSON.parse((await ctl(['config', 'get', 'web', '--group', '--json'])).stdout)).to.include({ name: 'web', revision: 2 });
    const missing = await ctl(['config', 'get', 'nope', '--group']);
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/\[not_found\]/);
  });

  it('stages a group save in batches, shows the rollout, resumes it and rolls it back', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    const members: MemberAgent[] = [];
    try {
      for (const id of ['n1', 'n2', 'n3']) {
        members.push(await MemberAgent.connect(fusion, id));
        await assign(fusion, 'nfs', id, { variables: { mount_point: id } });
      }
      const audit = (m: MemberAgent): unknown => (m.document?.pipes as any)?.main.audit_interval_sec;
      await eventually(() => members.every((m) => audit(m) === 300));
      members[0]!.rejects = (doc) => ((doc.pipes as any).main.audit_interval_sec === 900 ? 'pipe main failed to start' : undefined);

      const file = join(dir.path, 'nfs.yaml');
      await writeFile(file, withAudit(MOUNT_TEMPLATE, 900));
      const notGroup = await ctl(['config', 'set', 'n1', file, '--batch-size', '1']);
      expect(notGroup).to.include({ status: 2 });
      expect(notGroup.stderr).to.include('--batch-size stages a group rollout: it needs --group');
      const badValue = await ctl(['config', 'set', 'nfs', file, '--group', '--batch-size', '0']);
      expect(badValue.status).to.equal(1);
      expect(badValue.stderr).to.include('batch_size');

      const saved = await ctl(['config', 'set', 'nfs', file, '--group', '--batch-size', '1', '--max-failures', '0', '--batch-timeout', '120']);
      expect(saved.status).to.equal(0, saved.stderr);
      const id = /rollout (\S+) running \(3 batch\(es\); fustorctl rollout \1\)/.exec(saved.stdout)?.[1];
      expect(id, saved.stdout).to.be.a('string');
      const halted = await eventually(async () => {
        const shown = await ctl(['rollout', id!, '--agents']);
        return shown.stdout.includes('status:   halted') && shown;
      });
      expect(halted.stdout).to.match(/^strategy: +batches of 1, pause 0 s, max_failures 0, batch timeout 120 s$/m);
      expect(halted.stdout).to.match(/^batch: +1 of 3$/m);
      expect(halted.stdout).to.match(/^members: +applied 0, failed 1, applying 0, pending 2, cancelled 0 \(total 3\)$/m);
      expect(halted.stdout).to.match(/^n1 +1 +failed +yes +(just now|\S+ ago) +pipe main failed to start$/m);
      expect(JSON.parse((await ctl(['rollout', id!, '--json'])).stdout)).to.include({ id, status: 'halted', batch_count: 3 });

      members[0]!.rejects = () => undefined;
      const resumed = await ctl(['rollout', id!, 'resume']);
      expect(resumed.status).to.equal(0, resumed.stderr);
      expect(resumed.stdout).to.match(/^status: +running/m);
      await eventually(async () => (await ctl(['rollout', id!])).stdout.includes('status:   completed'));
      await eventually(() => members.slice(1).every((m) => audit(m) === 900));

      const rolledBack = await ctl(['rollout', id!, 'rollback']);
      expect(rolledBack.status).to.equal(0, rolledBack.stderr);
      expect(rolledBack.stdout).to.match(/^rolled back: group nfs saved again at revision 3 \(the template of revision 1\)$/m);
      await eventually(() => members.slice(1).every((m) => audit(m) === 300));
      const again = await ctl(['rollout', id!, 'rollback']);
      expect(again.status).to.equal(1);
      expect(again.stderr).to.include('[rollout_not_current]');
      expect((await ctl(['rollout', id!, 'explode'])).status).to.equal(2);
    } finally {
      for (const m of members) m.close();
    }
  });

  it('lists every validation problem and exits 1 when a config is rejected', async () => {
    const file = join(dir.path, 'bad.yaml');
    await writeFile(file, YAML.stringify({ sources: { s: { driver: 'ftp', uri: '/x' } }, pipes: { p: { source: 's', sender: 'nowhere' } } }));
    const run = await ctl(['config', 'set', 'node-1', file]);
    expect(run.status).to.equal(1);
    expect(run.stdout).to.equal('');
    expect(run.stderr).to.include('fustorctl: config rejected: 2 problem(s) [invalid_config]');
    expect(run.stderr).to.include('  sources.s.driver: unknown source driver "ftp"');
    expect(run.stderr).to.include('  pipes.p.sender: unknown sender "nowhere"');
  });

  it('sends a command and, with --wait, follows it to its result', async () => {
    const agent = await fusion.rawAgent('node-1');
    const waiting = ctl(['command', 'node-1', 'scan', '--arg', 'path=/data', '--arg', 'recursive=false', '--wait', '--timeout', '10']);
    const frame = await agent.next('command');
    expect(frame).to.deep.include({ command_type: 'scan', args: { path: '/data', recursive: false } });
    agent.send({ type: 'command_ack', command_id: frame.command_id });
    agent.send({ type: 'command_result', command_id: frame.command_id, status: 'succeeded', output: { files: 12, dirs: 3 } });
    const done = await waiting;
    expect(done.status).to.equal(0, done.stderr);
    expect(done.stdout).to.match(new RegExp(`^command ${frame.command_id} succeeded in \\S+ \\(scan on node-1\\)\\noutput:\\n  files: 12\\n  dirs: 3\\n$`));

    const failing = ctl(['command', 'node-1', 'reload_config', '--wait', '--json']);
    const second = await agent.next('command');
    agent.send({ type: 'command_result', command_id: second.command_id, status: 'failed', error: 'config invalid' });
    const failed = await failing;
    expect(failed.status).to.equal(1);
    expect(JSON.parse(failed.stdout)).to.include({ status: 'failed', error: 'config invalid' });

    const history = await ctl(['commands', '--agent', 'node-1']);
    const rows = history.stdout.trim().split('\n');
    expect(rows[0]).to.match(/^ID\s+AGENT\s+TYPE\s+STATUS\s+CREATED\s+BY\s+ERROR$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(1, 4).join(' '))).to.deep.equal(['node-1 reload_config failed', 'node-1 scan succeeded']);
    const filtered = await ctl(['commands', '--status', 'failed', '--json']);
    expect(JSON.parse(filtered.stdout).map((c: any) => c.type)).to.deep.equal(['reload_config']);
  });

  it('gives up waiting after --timeout with exit 1, and queues without --wait', async () => {
    const queued = await ctl(['command', 'node-7', 'report_config']);
    expect(queued.status).to.equal(0);
    expect(queued.stdout).to.match(/^command \S+ queued \(report_config for node-7\)\n$/);
    const waited = await ctl(['command', 'node-7', 'report_config', '--wait', '--timeout', '0.3']);
    expect(waited.status).to.equal(1);
    expect(waited.stderr).to.match(/is still queued after 0\.3s \[timeout\]/);
  });

  it('follows the event stream with watch until interrupted', async () => {
    const watch = startFustorctl(['watch'], { url: fusion.url, token: fusion.adminToken });
    const asJson = startFustorctl(['watch', '--json', '--types', 'agent.*'], { url: fusion.url, token: fusion.adminToken });
    // The stream is open once an event published now reaches both watchers.
    let probes = 0;
    await eventually(async () => {
      const client = await fusion.rawAgent(`probe-${probes++}`);
      client.close();
      return watch.output().includes('agent.online') && asJson.output().includes('agent.online');
    });
    const agent = await fusion.rawAgent('node-1');
    await fusion.api('/api/v1/management/agents/node-1/command', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"report_config"}' });
    await agent.next('command');
    await eventually(() => watch.output().includes('report_config on node-1: sent'));
    const text = await watch.stop();
    expect(text.status).to.equal(0);
    expect(text.stdout).to.match(/^\d{4}-\d\d-\d\dT\S+Z\s+agent\.online\s+node-1 online \(/m);
    expect(text.stdout).to.match(/command\.transition\s+command \S+ report_config on node-1: queued/);
    const lines = (await asJson.stop()).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.every((e) => e.type.startsWith('agent.'))).to.equal(true);
    expect(lines.some((e) => e.type === 'agent.online' && e.data.agent_id === 'node-1')).to.equal(true);
  });

  it('says clearly what is wrong: usage, missing token, bad token, unknown agent, unreachable Fusion', async () => {
    const usage = await ctl([]);
    expect(usage.status).to.equal(2);
    expect(usage.stdout).to.match(/^Usage: fustorctl <command>/);
    expect(await ctl(['frob'])).to.include({ status: 2, stderr: 'fustorctl: unknown command "frob"; run fustorctl --help\n' });
    expect((await ctl(['agent'])).stderr).to.match(/missing <agent>/);
    expect((await ctl(['commands', '--nope'])).status).to.equal(2);
    expect((await ctl(['command', 'node-1', 'scan', '--arg', 'novalue'])).stderr).to.match(/--arg expects key=value/);
    const noToken = await fustorctl(['agents'], { url: fusion.url });
    expect(noToken).to.include({ status: 2, stderr: 'fustorctl: FUSION_TOKEN is not set: export FUSION_TOKEN=<admin token>\n' });
    const badToken = await ctl(['agents'], { token: 'wrong' });
    expect(badToken).to.include({ status: 1, stderr: 'fustorctl: unknown, expired or revoked admin token [unauthorized]\n' });
    expect(badToken.stderr).to.not.include('wrong');
    expect((await ctl(['agent', 'ghost'])).stderr).to.equal('fustorctl: agent ghost not found [not_found]\n');
    expect((await ctl(['command', 'node-1', 'format_disk'])).stderr).to.match(/unknown command type "format_disk".*\[invalid_command\]/);
    const closed = await fustorctl(['agents'], { url: 'http://127.0.0.1:9', token: 'x' });
    expect(closed.status).to.equal(1);
    expect(closed.stderr).to.match(/^fustorctl: cannot reach Fusion at http:\/\/127\.0\.0\.1:9: .+\[unreachable\]\n$/);
  });

  it('runs as the npm bin, with exit status and messages on stderr', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, FUSION_URL: fusion.url, FUSION_TOKEN: fusion.adminToken };
    const ok = await run(process.execPath, ['bin/fustorctl.js', 'agents', '--json'], { cwd: ROOT, env });
    expect(JSON.parse(ok.stdout)).to.deep.equal({ agents: [], next_cursor: null });
    const failed = await run(process.execPath, ['bin/fustorctl.js', 'agent', 'ghost'], { cwd: ROOT, env }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed).to.include({ code: 1, stderr: 'fustorctl: agent ghost not found [not_found]\n' });
  });
});
