import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { upgradePaths } from '../../agent/upgrade/upgrade-paths.js';
import { readUpgradeState, writeUpgradeState } from '../../agent/upgrade/upgrade-state.js';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { isRunning, LauncherProcess, repositoryVersion } from './upgrade-fixtures.js';

describe('agent launcher', function () {
  this.timeout(30_000); // each case starts the launcher and the repository's agent through the TypeScript loader
  let home: { path: string; remove(): Promise<void> };
  let launcher: LauncherProcess | undefined;

  beforeEach(async () => {
    home = await tempHome('launcher-');
  });
  afterEach(async () => {
    await launcher?.stop();
    launcher = undefined;
    await home.remove();
  });

  it('leaves no agent behind when the launcher itself is killed', async () => {
    launcher = LauncherProcess.start(['--home', home.path, '--agent-id', 'l-1']);
    await eventually(() => launcher!.messages('fustor-agent').some((m) => m.msg === 'agent running'), { timeoutMs: 20_000 });
    const [agentPid] = launcher.agentPids();
    expect(isRunning(agentPid!)).to.equal(true);
    launcher.child.kill('SIGKILL');
    await launcher.exited;
    await eventually(() => !isRunning(agentPid!), { timeoutMs: 10_000, message: 'the orphaned agent stops' });
  });

  it('closes an upgrade whose pointer was never switched as rolled back, and the agent records it as failed', async () => {
    // The old agent recorded the switch and died before it moved the pointer.
    await writeUpgradeState(home.path, {
      command_id: 'cmd-interrupted',
      from_version: await repositoryVersion(),
      to_version: '9.9.9',
      previous_pointer: null,
      phase: 'switched',
      switched_at: Date.now(),
      reported: false,
    });
    launcher = LauncherProcess.start(['--home', home.path, '--agent-id', 'l-2']);
    const state = await eventually(
      async () => {
        const s = await readUpgradeState(home.path);
        return s?.reported ? s : undefined;
      },
      { timeoutMs: 20_000, message: 'the upgrade record is reported' },
    );
    expect(state).to.include({ phase: 'rolled_back', reason: 'the current pointer names no version, not 9.9.9' });
    expect(existsSync(upgradePaths(home.path).current)).to.equal(false);
    const journal = JSON.parse(await readFile(path.join(home.path, 'agent-state', 'commands.json'), 'utf8')) as { entries: Array<[string, { state: string; error?: string }]> };
    const entry = new Map(journal.entries).get('cmd-interrupted');
    expect(entry?.state).to.equal('failed');
    expect(entry?.error).to.include('rolled back').and.include('9.9.9');
    expect(launcher.agentPids()).to.have.length(1);
  });
});
