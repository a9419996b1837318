import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { localConfigDir } from '../../agent/config/local-config.js';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { configDoc } from './agent-fixture.js';

const LAUNCHER = fileURLToPath(new URL('../../bin/fustor-agent.js', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [LAUNCHER, ...args], { env: { ...process.env, FUSTOR_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

function messages(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg));
}

describe('fustor-agent command line', function () {
  this.timeout(30_000); // each case starts a Node process with the TypeScript loader
  let home: { path: string; remove(): Promise<void> };
  let running: Run | undefined;

  beforeEach(async () => {
    home = await tempHome('agent-cli-');
  });
  afterEach(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGKILL');
      await running.exited;
    }
    running = undefined;
    await home.remove();
  });

  it('prints its usage with --help', async () => {
    running = run(['--help']);
    expect(await running.exited).to.equal(0);
    expect(running.stdout()).to.match(/^Usage: fustor-agent/).and.include('--control-plane-uri');
  });

  it('exits 2 listing every bad option', async () => {
    running = run(['--home', home.path, '--transport', 'pigeon', '--connect-timeout-ms', 'soon']);
    expect(await running.exited).to.equal(2);
    expect(running.stderr()).to.include('--connect-timeout-ms: expected a number');
    running = run(['--home', home.path, '--transport', 'pigeon']);
    expect(await running.exited).to.equal(2);
    expect(running.stderr()).to.match(/agent_id: .*\n.*transport: /);
  });

  it('runs on local config, reloads on SIGHUP and exits 0 on SIGTERM', async () => {
    await mkdir(localConfigDir(home.path), { recursive: true });
    await writeFile(path.join(localConfigDir(home.path), 'agent.yaml'), YAML.stringify(configDoc(home.path)));
    running = run(['--agent-id', 'cli-1'], { FUSTOR_HOME: home.path });
    await eventually(() => messages(running!.stdout()).includes('agent running'), { timeoutMs: 20_000 });
    running.child.kill('SIGHUP');
    await eventually(() => messages(running!.stdout()).includes('config reloaded'), { timeoutMs: 5_000 });
    running.child.kill('SIGTERM');
    expect(await running.exited).to.equal(0);
    expect(messages(running.stdout())).to.include('agent stopped');
  });
});
