import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { MOUNT_TEMPLATE, MemberAgent, fusionPerTest, ok } from '../groups/group-fixture.js';
import { fustorctl } from './cli-harness.js';

const PLAIN_TEMPLATE = MOUNT_TEMPLATE.replace('/mnt/${mount_point}/data', '/srv/data');

describe('fustorctl group: rules by selector', () => {
  const world = fusionPerTest();
  let dir: Awaited<ReturnType<typeof tempHome>>;
  const ctl = (argv: string[]) => fustorctl(argv, { url: world.fusion.url, token: world.fusion.adminToken });

  beforeEach(async () => {
    dir = await tempHome('fustorctl-rules-');
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('creates a group with a rule, previews and changes it, shows the rule and where members came from', async () => {
    const web = await MemberAgent.connect(world.fusion, 'web-1');
    world.members.push(web, await MemberAgent.connect(world.fusion, 'web-2'));
    expect((await ctl(['label', 'web-1', 'role=web', 'region=eu'])).status).to.equal(0);
    expect((await ctl(['label', 'web-2', 'role=web', 'region=us'])).status).to.equal(0);
    const file = join(dir.path, 'web.yaml');
    await writeFile(file, PLAIN_TEMPLATE);

    const created = await ctl(['group', 'web', '--create', file, '--selector', 'role=web']);
    expect(created.status).to.equal(0, created.stderr);
    expect(created.stdout).to.match(/^rule applied: added 2 agent\(s\), released 0;/m);
    expect(created.stdout).to.match(/^members: +2 \(2 rule\)$/m);
    expect(created.stdout).to.match(/^rule: +role=web \(claims 2 member\(s\); 0 matching agent\(s\) not claimed\)$/m);
    await eventually(() => (web.document?.sources as any)?.data?.uri === '/srv/data');

    const dry = await ctl(['group', 'web', '--selector', 'role=web,region=eu', '--dry-run']);
    expect(dry.status).to.equal(0, dry.stderr);
    expect(dry.stdout).to.match(/^dry run, nothing stored: the rule would add 0 agent\(s\), release 1;/m);
    expect(dry.stdout).to.match(/^leave +web-2 +web/m);
    expect((await ok(world.fusion, 'GET', '/api/v1/management/groups/web')).selector).to.equal('role=web');

    const narrowed = await ctl(['group', 'web', '--selector', 'role=web,region=eu']);
    expect(narrowed.stdout).to.match(/^rule applied: added 0 agent\(s\), released 1;/m);
    expect(narrowed.stdout).to.match(/^members: +1 \(1 rule\)$/m);

    await ctl(['label', 'web-2', 'region=eu']);
    await ok(world.fusion, 'PUT', '/api/v1/management/groups/web/members/web-2', {});
    await ctl(['label', 'web-2', 'region=us']);
    const shown = await ctl(['group', 'web']);
    expect(shown.stdout).to.match(/^members: +2 \(1 explicit, 1 rule\)$/m);

    const bad = await ctl(['group', 'web', '--selector', 'role in (web']);
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.include('[bad_selector]').and.include('position');
    const removed = await ctl(['group', 'web', '--no-selector', '--json']);
    const body = JSON.parse(removed.stdout);
    expect(body.selector).to.equal(null);
    expect(body.rule_change.leave).to.deep.equal([{ agent_id: 'web-1', group: 'web' }]);
    expect((await ctl(['group', 'web', '--selector', 'a=b', '--no-selector'])).status).to.not.equal(0);
  });
});
