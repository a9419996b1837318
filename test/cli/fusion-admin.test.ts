import { expect } from 'chai';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditStore } from '../../server/audit/audit-store.js';
import { openHomeSql } from '../harness/test-database.js';
import { tempHome } from '../harness/temp-home.js';
import { FUSION_YAML, FUSION_YAML_WITH_ARCHIVE, INGEST_KEY, openSession, pushEvents, startManagedFusion, type ManagedFusion } from '../management/management-harness.js';
import { fustorctl } from './cli-harness.js';

describe("fustorctl: Fusion's side (fusion.yaml, sessions, tokens, audit, cancel)", () => {
  let fusion: ManagedFusion;
  let dir: Awaited<ReturnType<typeof tempHome>>;
  const ctl = (argv: string[], options: Parameters<typeof fustorctl>[1] = {}) => fustorctl(argv, { url: fusion.url, token: fusion.adminToken, ...options });

  beforeEach(async () => {
    fusion = await startManagedFusion();
    dir = await tempHome('fustorctl-fusion-');
  });
  afterEach(async () => {
    await fusion.close();
    await dir.remove();
  });

  it('gets, sets and reloads fusion.yaml, honouring --if-match and listing every problem', async () => {
    expect(await ctl(['fusion', 'config', 'get'])).to.deep.equal({ status: 0, stdout: FUSION_YAML, stderr: '' });
    const copy = join(dir.path, 'fusion.yaml');
    const written = await ctl(['fusion', 'config', 'get', copy]);
    expect(written.stderr, written.stderr).to.match(new RegExp(`^wrote ${copy} \\(sha256:[0-9a-f]{64}\\)\\n$`));
    expect(await readFile(copy, 'utf8')).to.equal(FUSION_YAML);
    expect((await stat(copy)).mode & 0o777).to.equal(0o600);
    const asJson = JSON.parse((await ctl(['fusion', 'config', 'get', '--json'])).stdout);
    expect(asJson).to.include({ exists: true, valid: true, text: FUSION_YAML });
    expect(Object.keys(asJson.document.views)).to.deep.equal(['tree']);

    await writeFile(copy, FUSION_YAML_WITH_ARCHIVE);
    const stale = await ctl(['fusion', 'config', 'set', copy, '--if-match', `sha256:${'0'.repeat(64)}`]);
    expect(stale.status).to.equal(1);
    expect(stale.stderr).to.include('[precondition_failed]');
    const applied = await ctl(['fusion', 'config', 'set', copy, '--if-match', asJson.signature]);
    expect(applied.status).to.equal(0, applied.stderr);
    expect(applied.stdout).to.equal(`applied ${asJson.path}: ${JSON.parse((await ctl(['fusion', 'config', 'get', '--json'])).stdout).signature} (receivers: ~main; views: +archive; pipes: +archive)\n`);

    // An edit on the host, then a reload.
    await writeFile(asJson.path, FUSION_YAML);
    const reloaded = await ctl(['fusion', 'config', 'reload', '--json']);
    expect(reloaded.status).to.equal(0, reloaded.stderr);
    expect(JSON.parse(reloaded.stdout).changes.views).to.deep.equal({ added: [], removed: ['archive'], changed: [] });
    expect((await ctl(['fusion', 'config', 'reload'])).stdout).to.match(/^reloaded \S+fusion\.yaml: sha256:[0-9a-f]{64} \(no change\)\n$/);

    const bad = await ctl(['fusion', 'config', 'set'], { stdin: 'pipes:\n  main: { receiver: nowhere, views: [tree] }\n' });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.match(/nowhere/);
    expect(await readFile(asJson.path, 'utf8')).to.equal(FUSION_YAML);
    expect((await ctl(['fusion', 'config', 'frob'])).status).to.equal(2);
    expect((await ctl(['fusion', 'settings', 'get'])).status).to.equal(2);
  });

  it('lists the open ingest sessions, filtered by agent or view', async () => {
    expect((await ctl(['sessions'])).stdout).to.equal('no open sessions\n');
    const first = (await openSession(fusion.url, INGEST_KEY, 'node-1', 'research')).body.session_id as string;
    const second = (await openSession(fusion.url, INGEST_KEY, 'node-2', 'research')).body.session_id as string;
    expect(await pushEvents(fusion.url, INGEST_KEY, first, ['a', 'b'])).to.equal(200);
    const shown = await ctl(['sessions']);
    expect(shown.status).to.equal(0, shown.stderr);
    const [header, ...rows] = shown.stdout.trim().split('\n');
    expect(header).to.match(/^SESSION\s+AGENT\/PIPE\s+PIPE\s+VIEWS\s+ROLE\s+EVENTS\s+AGE\s+IDLE\s+LAST SCAN$/);
    expect(rows).to.have.length(2);
    expect(rows.find((r) => r.startsWith(first))).to.match(/^\S+\s+node-1\/research\s+main\s+tree\s+leader of tree\s+2\s+\S+\s+\S+\s+-$/);
    expect(rows.find((r) => r.startsWith(second))).to.match(/^\S+\s+node-2\/research\s+main\s+tree\s+follower\s+0\s/);
    const one = JSON.parse((await ctl(['sessions', '--agent', 'node-2', '--json'])).stdout);
    expect(one.map((s: { session_id: string }) => s.session_id)).to.deep.equal([second]);
    expect((await ctl(['sessions', '--view', 'archive'])).stdout).to.equal('no open sessions\n');
  });

  it('creates, lists and revokes admin and enrollment tokens; a new secret works at once', async () => {
    const initial = await ctl(['tokens', 'list']);
    expect(initial.stdout).to.match(/^ID\s+KIND\s+NAME\s+ROLE\/GROUP\s+CREATED\s+EXPIRES\s+USES\s+STATE$/m);
    expect(initial.stdout).to.match(/\sadmin\s.*\sadmin\s.*\sactive$/m);

    const operator = await ctl(['tokens', 'create', 'admin', 'ci', '--role', 'operator']);
    expect(operator.status).to.equal(0, operator.stderr);
    expect(operator.stderr).to.match(/^created admin token \S+ "ci" \(role operator\); the secret below is shown once, only its hash is stored\n$/);
    const secret = operator.stdout.trim();
    expect(operator.stdout).to.equal(`${secret}\n`);
    expect((await ctl(['agents', '--json'], { token: secret })).status).to.equal(0);
    const forbidden = await ctl(['tokens', 'list'], { token: secret });
    expect(forbidden.status).to.equal(1);
    expect(forbidden.stderr).to.match(/\[forbidden\]/);

    const before = Date.now();
    const enrollment = JSON.parse((await ctl(['tokens', 'create', 'enrollment', 'web-nodes', '--expires', '7d', '--max-uses', '2', '--group', 'web', '--json'])).stdout);
    expect(enrollment).to.include({ name: 'web-nodes', max_uses: 2, uses: 0, group: 'web' });
    expect(enrollment.expires_at).to.be.within(before + 7 * 86_400_000, Date.now() + 7 * 86_400_000);
    expect(enrollment.secret).to.be.a('string');
    const agent = await fusion.rawAgent('web-1', { token: enrollment.secret });
    agent.close();
    const listed = await ctl(['tokens', 'list', 'enrollment']);
    expect(listed.stdout).to.match(new RegExp(`^${enrollment.id}\\s+enrollment\\s+web-nodes\\s+group web\\s+\\S+\\s+\\S+\\s+1/2\\s+active$`, 'm'));
    expect(listed.stdout).to.not.include(' admin ');

    const revoked = await ctl(['tokens', 'revoke', 'enrollment', enrollment.id]);
    expect(revoked).to.deep.equal({ status: 0, stdout: `revoked enrollment token ${enrollment.id} "web-nodes"\n`, stderr: '' });
    const all = JSON.parse((await ctl(['tokens', 'list', '--json'])).stdout);
    expect(all.find((t: { id: string }) => t.id === enrollment.id)).to.include({ kind: 'enrollment' }).and.to.have.property('revoked_at').that.is.a('number');
    expect((await ctl(['tokens', 'list'])).stdout).to.match(new RegExp(`^${enrollment.id}\\s.*\\srevoked (just now|\\S+ ago)$`, 'm'));
    expect((await ctl(['tokens', 'revoke', 'enrollment', enrollment.id])).stderr).to.match(/\[already_revoked\]/);
    expect((await ctl(['tokens', 'revoke', 'admin', enrollment.id])).stderr).to.match(/\[not_found\]/);

    expect(await ctl(['tokens', 'create', 'admin', 'x'])).to.include({ status: 2 });
    expect((await ctl(['tokens', 'create', 'enrollment', 'x', '--expires', 'soonish'])).stderr).to.match(/--expires must be an ISO date/);
    expect((await ctl(['tokens', 'create', 'enrollment', 'x', '--role', 'admin'])).stderr).to.match(/--role is for admin tokens/);
    expect((await ctl(['tokens', 'list', 'agent'])).status).to.equal(2);
  });

  it('cancels a queued command, and refuses one that cannot be cancelled', async () => {
    const queued = JSON.parse((await ctl(['command', 'node-7', 'report_config', '--json'])).stdout);
    // An id may start with "-": it goes after "--".
    const cancelled = await ctl(['cancel', '--', queued.id]);
    expect(cancelled).to.deep.equal({ status: 0, stdout: `command ${queued.id} cancelled (report_config for node-7)\n`, stderr: '' });
    expect(JSON.parse((await ctl(['commands', '--json'])).stdout)[0]).to.include({ id: queued.id, status: 'cancelled' });
    expect((await ctl(['cancel', '--', queued.id])).stderr).to.match(/\[not_cancellable\]/);
    expect((await ctl(['cancel', '-abc'])).stderr).to.include('an argument that starts with "-" goes after "--": fustorctl cancel -- -abc');
    expect((await ctl(['cancel', 'nope'])).stderr).to.match(/\[not_found\]/);
    expect((await ctl(['cancel'])).status).to.equal(2);
  });

  it('reads the audit log with filters, and pages through more entries than one request returns', async () => {
    await ctl(['tokens', 'create', 'admin', 'auditor', '--role', 'viewer']);
    await ctl(['tokens', 'create', 'admin', 'intruder', '--role', 'admin'], { token: 'wrong-token' });
    await ctl(['command', 'node-7', 'scan', '--arg', 'path=/x']);
    const recent = await ctl(['audit', '--limit', '2']);
    expect(recent.status).to.equal(0, recent.stderr);
    const lines = recent.stdout.trim().split('\n');
    expect(lines[0]).to.match(/^TIME\s+ACTOR\s+ROLE\s+METHOD\s+PATH\s+STATUS\s+OUTCOME$/);
    expect(lines.slice(1)).to.have.length(2);
    expect(lines[1]).to.match(/^\S+Z\s+\S+\s+admin\s+POST\s+\/api\/v1\/management\/agents\/node-7\/command\s+202\s+success$/);
    const next = /^more entries: --cursor (\S+) \(or --all\)\n$/.exec(recent.stderr)?.[1];
    expect(next, recent.stderr).to.be.a('string');
    const rest = JSON.parse((await ctl(['audit', '--cursor', next!, '--json'])).stdout);
    expect(rest.entries.map((e: { path: string }) => e.path)).to.deep.equal(['/api/v1/management/admin-tokens']);
    expect(rest.next_cursor).to.equal(null);
    const writes = JSON.parse((await ctl(['audit', '--method', 'POST', '--target', 'admin-tokens', '--json'])).stdout).entries;
    expect(writes.map((e: { target: string; status: number; outcome: string }) => [e.target, e.status, e.outcome])).to.deep.equal([
      ['admin-tokens', 401, 'denied'],
      ['admin-tokens', 201, 'success'],
    ]);
    expect((await ctl(['audit', '--outcome', 'denied'])).stdout).to.match(/\s-\s+-\s+POST\s+\/api\/v1\/management\/admin-tokens\s+401\s+denied \(unauthorized\)$/m);

    // 2,500 older entries, five per millisecond: read in pages of at most 1,000, none repeated or skipped.
    const base = Date.now() - 3_600_000;
    const sql = await openHomeSql(fusion.home);
    try {
      const audit = new AuditStore(sql);
      await sql.transaction(async () => {
        for (let i = 0; i < 2500; i++) {
          await audit.record({ at: base + Math.floor(i / 5), actor: 'bulk', token_id: null, role: 'admin', address: null, method: 'PUT', path: `/api/v1/management/bulk/${i}`, query: null, target: `bulk/${i}`, status: 200, outcome: 'success', error_code: null, detail: null });
        }
      });
    } finally {
      await sql.close();
    }
    const bulk = JSON.parse((await ctl(['audit', '--actor', 'bulk', '--all', '--json'])).stdout).entries as Array<{ id: number; path: string }>;
    expect(bulk).to.have.length(2500);
    expect(new Set(bulk.map((e) => e.id)).size).to.equal(2500);
    expect(bulk[0]!.path).to.equal('/api/v1/management/bulk/2499');
    expect(bulk.every((e, i) => i === 0 || e.id < bulk[i - 1]!.id)).to.equal(true);
    const some = await ctl(['audit', '--actor', 'bulk', '--limit', '1203', '--json']);
    expect(JSON.parse(some.stdout).entries.map((e: { id: number }) => e.id)).to.deep.equal(bulk.slice(0, 1203).map((e) => e.id));
    expect(JSON.parse(some.stdout).next_cursor).to.be.a('string');
    const window = JSON.parse((await ctl(['audit', '--actor', 'bulk', '--since', String(base + 100), '--until', new Date(base + 101).toISOString(), '--json'])).stdout).entries;
    expect(window.map((e: { path: string }) => e.path.split('/').pop())).to.deep.equal(['509', '508', '507', '506', '505', '504', '503', '502', '501', '500']);
    expect((await ctl(['audit', '--limit', '2', '--all'])).status).to.equal(2);
  });
});
