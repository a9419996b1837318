import { expect } from 'chai';
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { upgradePaths } from '../../agent/upgrade/upgrade-paths.js';
import { readUpgradeState } from '../../agent/upgrade/upgrade-state.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { buildBrokenPackage, buildPackage, isRunning, LauncherProcess, repositoryVersion } from './upgrade-fixtures.js';

interface CommandJson {
  id: string;
  status: string;
  args: { version: string; sha256?: string };
  output: { version?: string; previous_version?: string; restarted?: boolean } | null;
  error: string | null;
  finished_at: number | null;
}
interface AgentJson {
  online: boolean;
  version: string | null;
  connected_at: number | null;
}

/** Time a new version has to reach Fusion in these tests. */
const UPGRADE_TIMEOUT_MS = 4000;

describe('agent upgrade with real agent processes under the launcher', function () {
  this.timeout(90_000); // each case starts Node processes (the repository's agent through the TypeScript loader)
  let fusion: TestFusion;
  let packagesDir: { path: string; remove(): Promise<void> };
  let home: { path: string; remove(): Promise<void> };
  let launcher: LauncherProcess | undefined;
  let builtinVersion: string;

  const upload = async (file: string): Promise<{ version: string; sha256: string }> => {
    const res = await fusion.api('/api/v1/management/packages', { method: 'POST', headers: { 'content-type': 'application/gzip' }, body: await readFile(file) });
    expect(res.status, await res.clone().text()).to.equal(201);
    return (await res.json()) as { version: string; sha256: string };
  };
  const agent = async (id: string): Promise<AgentJson> => (await (await fusion.api(`/api/v1/management/agents/${id}`)).json()) as AgentJson;
  const onlineAt = (id: string, version: string): Promise<AgentJson> =>
    eventually(
      async () => {
        const view = await agent(id);
        return view.online && view.version === version ? view : undefined;
      },
      { timeoutMs: 30_000, message: `${id} online with version ${version}` },
    );
  const upgrade = async (id: string, version: string): Promise<CommandJson> => {
    const res = await fusion.api(`/api/v1/management/agents/${id}/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'upgrade', args: { version } }),
    });
    expect(res.status, await res.clone().text()).to.equal(202);
    return (await res.json()) as CommandJson;
  };
  const finished = (id: string): Promise<CommandJson> =>
    eventually(
      async () => {
        const command = (await (await fusion.api(`/api/v1/management/commands/${id}?wait=5`)).json()) as CommandJson;
        return ['succeeded', 'failed', 'expired'].includes(command.status) ? command : undefined;
      },
      { timeoutMs: 45_000, message: `command ${id} finishes` },
    );
  const startAgent = (id: string): LauncherProcess =>
    LauncherProcess.start(
      [
        '--home', home.path,
        '--agent-id', id,
        '--control-plane-uri', fusion.url,
        '--auth-token', fusion.enrollmentToken,
        '--connect-timeout-ms', '500',
        '--backoff-base-ms', '50',
        '--backoff-cap-ms', '500',
      ],
      { FUSTOR_UPGRADE_TIMEOUT_MS: String(UPGRADE_TIMEOUT_MS) },
    );

  before(async () => {
    builtinVersion = await repositoryVersion();
    packagesDir = await tempHome('upgrade-packages-');
    fusion = await startFusion();
    const good = [];
    for (const version of ['0.9.1', '0.9.2', '0.9.3', builtinVersion]) good.push(await buildPackage(packagesDir.path, version));
    for (const built of good) await upload(built.file);
    const crashing = await buildBrokenPackage(packagesDir.path, '0.9.4', "console.error('broken build: cannot start'); process.exit(1);\n");
    await upload(crashing.file);
    const silent = await buildBrokenPackage(packagesDir.path, '0.9.5', 'setInterval(() => undefined, 1000);\n');
    await upload(silent.file);
  });
  after(async () => {
    await fusion?.stop();
    await packagesDir?.remove();
  });
  beforeEach(async () => {
    home = await tempHome('upgrade-agent-');
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && launcher) process.stderr.write(`--- launcher output ---\n${launcher.log}\n`);
    await launcher?.stop();
    launcher = undefined;
    await home.remove();
  });

  it('upgrades a running agent twice: it restarts into each version and reports it before the command succeeds', async () => {
    launcher = startAgent('up-1');
    await onlineAt('up-1', builtinVersion);

    const first = await upgrade('up-1', '0.9.1');
    expect(first.args.sha256).to.match(/^[0-9a-f]{64}$/);
    const done = await finished(first.id);
    expect(done.status, done.error ?? '').to.equal('succeeded');
    expect(done.output).to.deep.equal({ version: '0.9.1', previous_version: builtinVersion, restarted: true });
    const view = await onlineAt('up-1', '0.9.1');
    // Succeeded only after the new process connected and said hello with its version.
    expect(done.finished_at).to.be.at.least(view.connected_at!);
    expect(await readlink(upgradePaths(home.path).current)).to.equal(path.join('versions', '0.9.1'));

    // The installed bundle upgrades itself the same way.
    const second = await finished((await upgrade('up-1', '0.9.2')).id);
    expect(second.status, second.error ?? '').to.equal('succeeded');
    expect(second.output).to.deep.equal({ version: '0.9.2', previous_version: '0.9.1', restarted: true });
    await onlineAt('up-1', '0.9.2');
    expect(await readlink(upgradePaths(home.path).current)).to.equal(path.join('versions', '0.9.2'));
    const state = await readUpgradeState(home.path);
    expect(state).to.include({ phase: 'committed', reported: true, from_version: '0.9.1', to_version: '0.9.2' });
    // One launcher, three agent processes, each but the last gone.
    const pids = launcher.agentPids();
    expect(pids).to.have.length(3);
    expect(pids.slice(0, 2).some(isRunning)).to.equal(false);
  });

  it('refuses a tampered package and keeps the running version', async () => {
    launcher = startAgent('up-2');
    await onlineAt('up-2', builtinVersion);
    // Someone alters the stored package after its hash was recorded.
    const stored = path.join(fusion.home, 'packages', '0.9.3.tgz');
    const original = await readFile(stored);
    const tampered = Buffer.from(original);
    tampered[tampered.length - 20] = (tampered[tampered.length - 20]! + 1) % 256;
    await writeFile(stored, tampered);
    try {
      const done = await finished((await upgrade('up-2', '0.9.3')).id);
      expect(done.status).to.equal('failed');
      expect(done.error).to.include('does not match the sha256 Fusion recorded');
    } finally {
      await writeFile(stored, original);
    }
    const view = await agent('up-2');
    expect(view).to.include({ online: true, version: builtinVersion });
    expect(launcher.agentPids()).to.have.length(1);
    expect(existsSync(upgradePaths(home.path).current)).to.equal(false);
    expect(existsSync(upgradePaths(home.path).version('0.9.3'))).to.equal(false);
  });

  it('rolls back a package that crashes at start; the old version reports the failure with the reason', async () => {
    launcher = startAgent('up-3');
    await onlineAt('up-3', builtinVersion);
    const done = await finished((await upgrade('up-3', '0.9.4')).id);
    expect(done.status).to.equal('failed');
    expect(done.error).to.include('rolled back').and.include('exited with code 1').and.include('broken build: cannot start');
    await onlineAt('up-3', builtinVersion);
    expect(existsSync(upgradePaths(home.path).current)).to.equal(false);
    expect(await readUpgradeState(home.path)).to.include({ phase: 'rolled_back', reported: true, to_version: '0.9.4' });
    expect(launcher.agentPids()).to.have.length(3); // old, broken, old again
  });

  it('rolls back a version that does not reach Fusion in time, to the installed version it replaced', async () => {
    launcher = startAgent('up-4');
    await onlineAt('up-4', builtinVersion);
    expect((await finished((await upgrade('up-4', '0.9.1')).id)).status).to.equal('succeeded');
    await onlineAt('up-4', '0.9.1');

    const done = await finished((await upgrade('up-4', '0.9.5')).id);
    expect(done.status).to.equal('failed');
    expect(done.error).to.include(`did not reach Fusion within ${UPGRADE_TIMEOUT_MS} ms`);
    await onlineAt('up-4', '0.9.1');
    expect(await readlink(upgradePaths(home.path).current)).to.equal(path.join('versions', '0.9.1'));
    const silentPid = launcher.agentPids().at(-2)!;
    expect(isRunning(silentPid)).to.equal(false);
  });

  it('answers at once, without a restart, when the version asked for is the one running', async () => {
    launcher = startAgent('up-5');
    await onlineAt('up-5', builtinVersion);
    const done = await finished((await upgrade('up-5', builtinVersion)).id);
    expect(done.status, done.error ?? '').to.equal('succeeded');
    expect(done.output).to.include({ version: builtinVersion, restarted: false });
    expect(launcher.agentPids()).to.have.length(1);
  });
});
