import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import type { RawAgentClient } from '../harness/raw-client.js';
import { tempHome } from '../harness/temp-home.js';
import { placeholderPackage } from '../upgrade/upgrade-fixtures.js';
import { fustorctl } from './cli-harness.js';

describe('fustorctl: packages and upgrade rollouts', () => {
  let fusion: TestFusion;
  let dir: Awaited<ReturnType<typeof tempHome>>;
  const ctl = (argv: string[]) => fustorctl(argv, { url: fusion.url, token: fusion.adminToken });
  /** Writes a package Fusion accepts for `version` and returns its path. */
  const packageFile = async (version: string): Promise<string> => {
    const file = join(dir.path, `fustor-agent-${version}.tgz`);
    await writeFile(file, placeholderPackage(version));
    return file;
  };
  /** Answers the next upgrade command as an agent would: ack, then success. */
  const upgradeSucceeds = async (agent: RawAgentClient): Promise<void> => {
    const command = await agent.next('command');
    expect(command.command_type).to.equal('upgrade');
    agent.send({ type: 'command_ack', command_id: command.command_id });
    agent.send({ type: 'command_result', command_id: command.command_id, status: 'succeeded', output: { version: command.args.version } });
  };

  beforeEach(async () => {
    fusion = await startFusion();
    dir = await tempHome('fustorctl-packages-');
  });
  afterEach(async () => {
    await fusion.stop();
    await dir.remove();
  });

  it('uploads, lists and deletes packages, saying why one is refused', async () => {
    expect((await ctl(['packages', 'list'])).stdout).to.equal('no packages uploaded\n');
    const file = await packageFile('2.0.0');
    const sha256 = createHash('sha256').update(placeholderPackage('2.0.0')).digest('hex');
    const uploaded = await ctl(['packages', 'upload', file]);
    expect(uploaded.status).to.equal(0, uploaded.stderr);
    expect(uploaded.stdout).to.match(new RegExp(`^uploaded package 2\\.0\\.0 \\(\\d+ bytes, sha256 ${sha256}\\)\\n$`));
    expect((await ctl(['packages', 'upload', file])).stderr).to.match(/\[package_exists\]/);
    expect((await ctl(['packages', 'upload', await packageFile('2.1.0'), '--version', '3.0.0'])).stderr).to.match(/\[version_mismatch\]/);
    expect((await ctl(['packages', 'upload', join(dir.path, 'missing.tgz')])).stderr).to.match(/cannot read .*missing\.tgz: ENOENT/);
    await writeFile(join(dir.path, 'junk.tgz'), 'not a package');
    expect((await ctl(['packages', 'upload', join(dir.path, 'junk.tgz')])).stderr).to.match(/\[invalid_package\]/);

    const listed = await ctl(['packages', 'list']);
    expect(listed.stdout).to.match(new RegExp(`^VERSION\\s+SIZE\\s+SHA256\\s+UPLOADED\\s+BY\\n2\\.0\\.0\\s+\\d+\\s+${sha256.slice(0, 12)}\\s+(just now|\\S+ ago)\\s+\\S+\\n$`));
    expect(JSON.parse((await ctl(['packages', 'list', '--json'])).stdout).map((p: { version: string; sha256: string }) => [p.version, p.sha256])).to.deep.equal([['2.0.0', sha256]]);

    expect(await ctl(['packages', 'delete', '2.0.0'])).to.deep.equal({ status: 0, stdout: 'deleted package 2.0.0\n', stderr: '' });
    expect((await ctl(['packages', 'delete', '2.0.0'])).stderr).to.match(/\[not_found\]/);
    expect((await ctl(['packages', 'delete', '../etc'])).status).to.equal(2);
    expect((await ctl(['packages', 'remove', 'x'])).status).to.equal(2);
  });

  it('starts an upgrade rollout in batches, shows it, and cancels it', async () => {
    expect((await ctl(['packages', 'upload', await packageFile('2.0.0')])).status).to.equal(0);
    const [a1, a2] = await Promise.all(['u-1', 'u-2'].map((id) => fusion.rawAgent(id)));
    const started = await ctl(['upgrade', 'start', '2.0.0', 'u-1,u-2', '--batch-size', '1', '--max-failures', '0', '--ttl', '600']);
    expect(started.status).to.equal(0, started.stderr);
    const id = /^upgrade: +(\S+)$/m.exec(started.stdout)?.[1];
    expect(id, started.stdout).to.be.a('string');
    expect(started.stdout).to.match(/^status: +running, updated /m);
    expect(started.stdout).to.match(/^strategy: +batches of 1, pause 0 s, max_failures 0, command ttl 600 s$/m);
    expect(started.stdout).to.match(/^batch: +1 of 2$/m);
    expect(started.stdout).to.match(/^agents: +waiting 1, upgrading 1, succeeded 0, failed 0$/m);

    await upgradeSucceeds(a1!);
    const second = await eventually(async () => {
      const shown = await ctl(['upgrade', 'show', '--agents', '--', id!]);
      // Batch 2's command is queued, then sent to the connected agent a moment later.
      return /^batch: +2 of 2$/m.test(shown.stdout) && /^u-2 +2 +\S+ +sent +-$/m.test(shown.stdout) && shown;
    });
    expect(second.stdout, second.stdout).to.match(/^u-1 +1 +\S+ +succeeded +-$/m);
    expect(second.stdout).to.match(/^u-2 +2 +\S+ +sent +-$/m);
    expect((await ctl(['upgrades'])).stdout).to.match(new RegExp(`^ID\\s+VERSION\\s+STATUS\\s+BATCH\\s+STARTED\\s+BY\\n${id!.replace(/[-_]/g, '\\$&')}\\s+2\\.0\\.0\\s+running\\s+2/2\\s`));

    const cancelled = await ctl(['upgrade', 'cancel', '--json', '--', id!]);
    expect(cancelled.status).to.equal(0, cancelled.stderr);
    const view = JSON.parse(cancelled.stdout);
    expect(view).to.include({ id, status: 'cancelled' });
    expect(view.counts).to.deep.equal({ waiting: 0, upgrading: 0, succeeded: 1, failed: 1 });
    await a2!.next('command_cancel');
    expect((await ctl(['upgrade', 'resume', '--', id!])).stderr).to.match(/\[\w+\]/);
    expect(JSON.parse((await ctl(['upgrades', '--json'])).stdout)[0]).to.include({ id, status: 'cancelled' });
  });

  it('refuses a bad upgrade request, and a forced delete withdraws what a package is in use for', async () => {
    expect((await ctl(['upgrade', 'start', '2.0.0'])).stderr).to.match(/missing <all\|online\|ID,ID\.\.\.>/);
    expect((await ctl(['upgrade', 'start', '2.0.0', 'u-1,../x'])).stderr).to.match(/invalid agent id "\.\.\/x"/);
    expect((await ctl(['upgrade', 'start', '2.0.0', 'all', '--batch-size', 'two'])).stderr).to.match(/--batch-size must be a number/);
    expect((await ctl(['upgrade', 'start', '9.9.9', 'all'])).status).to.equal(1);
    expect((await ctl(['upgrade', 'show', 'no-such-rollout'])).stderr).to.match(/\[not_found\]/);

    expect((await ctl(['packages', 'upload', await packageFile('3.0.0')])).status).to.equal(0);
    const agent = await fusion.rawAgent('u-1');
    const rollout = JSON.parse((await ctl(['upgrade', 'start', '3.0.0', 'online', '--json'])).stdout);
    const command = await agent.next('command');
    const inUse = await ctl(['packages', 'delete', '3.0.0']);
    expect(inUse.status).to.equal(1);
    expect(inUse.stderr).to.match(/\[package_in_use\]/);
    const forced = await ctl(['packages', 'delete', '3.0.0', '--force']);
    expect(forced.status).to.equal(0, forced.stderr);
    expect(forced.stdout).to.equal(
      `deleted package 3.0.0\n  cancelled commands: ${command.command_id}\n  still running (already acknowledged): none\n  halted upgrade rollouts: ${rollout.id}\n`,
    );
  });
});
