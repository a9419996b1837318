import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, createGroup, fusionPerTest, ok, withAudit } from '../groups/group-fixture.js';
import { fustorctl } from './cli-harness.js';

const auditOf = (m: MemberAgent): unknown => (m.document?.pipes as any)?.main.audit_interval_sec;

describe('fustorctl: dry runs, health-gated rollouts, reviewed changes', function () {
  // A loaded CI machine runs each fustorctl look slowly; the waits below say what they saw before this timeout.
  this.timeout(45_000);
  const world = fusionPerTest();
  let dir: Awaited<ReturnType<typeof tempHome>>;
  const ctl = (argv: string[], token = world.fusion.adminToken) => fustorctl(argv, { url: world.fusion.url, token });

  beforeEach(async () => {
    dir = await tempHome('fustorctl-review-');
  });
  afterEach(async () => {
    await dir.remove();
  });

  async function fleet(): Promise<MemberAgent> {
    await createGroup(world.fusion, 'nfs', MOUNT_TEMPLATE);
    const m = await MemberAgent.connect(world.fusion, 'n1');
    world.members.push(m);
    for (const id of ['n1', 'n2']) await assign(world.fusion, 'nfs', id, { variables: { mount_point: id } });
    await eventually(() => auditOf(m) === 300);
    return m;
  }

  it('--dry-run prints every affected agent and its diff, and stores nothing; a real save then stages a soak', async () => {
    const m = await fleet();
    const file = join(dir.path, 'nfs.yaml');
    await writeFile(file, withAudit(MOUNT_TEMPLATE, 900));
    const dry = await ctl(['config', 'set', 'nfs', file, '--group', '--dry-run', '--batch-size', '1']);
    expect(dry.status).to.equal(0, dry.stderr);
    expect(dry.stdout).to.match(/^dry run, nothing stored: 2 agent\(s\): 2 changed, 0 unchanged, 0 invalid, 1 offline, 2 batch\(es\)$/m);
    expect(dry.stdout).to.match(/^n1 +changes +yes +1$/m);
    expect(dry.stdout).to.match(/^n2 +changes +no +2$/m);
    expect(dry.stdout).to.include('-    audit_interval_sec: 300\n+    audit_interval_sec: 900');
    const page = JSON.parse((await ctl(['config', 'set', 'nfs', file, '--group', '--dry-run', '--limit', '1', '--json'])).stdout);
    expect(page.counts.total).to.equal(2);
    expect(page.agents).to.have.length(1);
    expect(auditOf(m)).to.equal(300);
    expect((await ok(world.fusion, 'GET', '/api/v1/management/groups/nfs')).revision).to.equal(1);

    const saved = await ctl(['config', 'set', 'nfs', file, '--group', '--soak', '30', '--on-halt', 'rollback', '--max-failures', '0']);
    expect(saved.status).to.equal(0, saved.stderr);
    const id = /rollout (\S+) running/.exec(saved.stdout)![1]!;
    const soaking = await eventually(async () => {
      const shown = await ctl(['rollout', id, '--agents']);
      if (!/^n1 +1 +soaking +yes +\d+s /m.test(shown.stdout)) throw new Error(`n1 is not soaking yet:\n${shown.stdout}${shown.stderr}`);
      return shown;
      // The soak lasts 30 s, so the state holds for the wait; a failure shows what fustorctl printed last.
    }, { timeoutMs: 20_000 });
    expect(soaking.stdout).to.match(/^strategy: +all at once, max_failures 0, batch timeout 600 s, soak 30 s, on halt rollback$/m);
    const back = await ctl(['rollout', id, 'rollback', '--dry-run']);
    expect(back.stdout).to.match(/^dry run, nothing stored: 2 agent\(s\): 2 changed/m);
  });

  it('a group that requires review: a save becomes a change that another admin approves', async () => {
    const m = await fleet();
    const review = await ctl(['group', 'nfs', '--require-review', 'on']);
    expect(review.stdout).to.match(/^review: +required/m);
    const file = join(dir.path, 'nfs.yaml');
    await writeFile(file, withAudit(MOUNT_TEMPLATE, 900));
    const proposed = await ctl(['config', 'set', 'nfs', file, '--group']);
    expect(proposed.status).to.equal(0, proposed.stderr);
    const id = /change (\S+) waits for another admin/.exec(proposed.stdout)![1]!;
    const listed = await ctl(['changes', 'nfs', '--status', 'pending']);
    expect(listed.stdout).to.match(new RegExp(`^${id} +template +r1 +pending +env:FUSION_ADMIN_TOKEN +- +`, 'm'));
    const shown = await ctl(['change', '--', id]);
    expect(shown.stdout).to.match(/^status: +pending$/m);
    expect(shown.stdout).to.match(/^dry run, nothing stored: 2 agent\(s\): 2 changed/m);

    const self = await ctl(['change', '--', id, 'approve']);
    expect(self.status).to.equal(1);
    expect(self.stderr).to.include('[review_by_author]');
    expect(auditOf(m)).to.equal(300);

    const other = (await ok(world.fusion, 'POST', '/api/v1/management/admin-tokens', { name: 'second-admin', role: 'admin' }, 201)).secret;
    const approved = await ctl(['change', '--comment', 'ok', '--', id, 'approve'], other);
    expect(approved.status).to.equal(0, approved.stderr);
    expect(approved.stdout).to.match(/^status: +approved by second-admin \("ok"\)$/m);
    expect(approved.stdout).to.match(/^revision: +2, rollout \S+/m);
    await eventually(() => auditOf(m) === 900);
  });

  it('a member change in a group that requires review waits for another admin; --dry-run previews it', async () => {
    const m = await fleet();
    await ctl(['group', 'nfs', '--require-review', 'on']);
    const rootOf = (): unknown => (m.document?.sources as any)?.data.uri;
    const dry = await ctl(['member', 'nfs', 'n1', 'set', '--var', 'mount_point=moved', '--dry-run']);
    expect(dry.status).to.equal(0, dry.stderr);
    expect(dry.stdout).to.match(/^dry run, nothing stored: 1 agent\(s\): 1 changed/m);
    expect(dry.stdout).to.include('+    uri: /mnt/moved/data');

    const file = join(dir.path, 'override.yaml');
    await writeFile(file, 'pipes:\n  main:\n    audit_interval_sec: 45\n');
    const proposed = await ctl(['member', 'nfs', 'n1', 'set', '--var', 'mount_point=moved', '--override', file]);
    expect(proposed.status).to.equal(0, proposed.stderr);
    const id = /change (\S+) waits for another admin/.exec(proposed.stdout)![1]!;
    expect((await ctl(['member', 'nfs', 'n1'])).stdout).to.match(/^variables: +mount_point=n1$/m);
    const listed = await ctl(['changes', 'nfs', '--status', 'pending']);
    expect(listed.stdout).to.match(new RegExp(`^${id} +member n1 +r1 +pending +env:FUSION_ADMIN_TOKEN +- +`, 'm'));
    const shown = await ctl(['change', '--', id]);
    expect(shown.stdout).to.match(/^group: +nfs \(member n1, against revision 1\)$/m);
    expect(shown.stdout).to.match(/^sets: +variables mount_point=moved; override \{"pipes":\{"main":\{"audit_interval_sec":45\}\}\}$/m);
    expect(shown.stdout).to.include('+    uri: /mnt/moved/data');

    expect((await ctl(['change', '--', id, 'approve'])).stderr).to.include('[review_by_author]');
    const other = (await ok(world.fusion, 'POST', '/api/v1/management/admin-tokens', { name: 'second-admin', role: 'admin' }, 201)).secret;
    const approved = await ctl(['change', '--', id, 'approve'], other);
    expect(approved.status).to.equal(0, approved.stderr);
    expect(approved.stdout).to.match(/^status: +approved by second-admin$/m);
    await eventually(() => rootOf() === '/mnt/moved/data' && auditOf(m) === 45);
    expect((await ctl(['member', 'nfs', 'n1'])).stdout).to.match(/^variables: +mount_point=moved$/m);

    // Without review a member change applies at once.
    await ctl(['group', 'nfs', '--require-review', 'off']);
    const direct = await ctl(['member', 'nfs', 'n1', 'set', '--no-override']);
    expect(direct.stdout).to.match(/^config: +revision \d+, \S+ \(changed, pushed\)$/m);
    await eventually(() => auditOf(m) === 300);
    expect((await ctl(['member', 'nfs', 'n1', 'set'])).status).to.equal(2);
  });
});
