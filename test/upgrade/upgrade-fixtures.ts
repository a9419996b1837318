/**
 * What the upgrade tests share: agent packages built from this repository
 * (once per run), a way to make a genuinely broken package out of a good one,
 * and an agent running under the real launcher (bin/fustor-agent.js) in a
 * child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAgentPackage, type BuiltAgentPackage } from '../../scripts/agent-package-builder.js';
import { AGENT_BUNDLE, PACKAGE_ROOT } from '../../shared/package/agent-package.js';
import { readTarGz, writeTarGz } from '../../shared/package/tar.js';
import { eventually } from '../harness/eventually.js';

const LAUNCHER = fileURLToPath(new URL('../../bin/fustor-agent.js', import.meta.url));

/** The version of this repository's own agent (what the launcher runs before any upgrade). */
/** A package Fusion accepts (it checks the manifest and that a bundle is there), for agents that never run it. */
export function placeholderPackage(version: string): Buffer {
  return writeTarGz([
    { type: 'file', path: 'package/package.json', mode: 0o644, data: Buffer.from(JSON.stringify({ name: 'fustor-agent', version })) },
    { type: 'file', path: `package/${AGENT_BUNDLE}`, mode: 0o755, data: Buffer.from('export {};\n') },
  ]);
}

export async function repositoryVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

/** Builds a package of this repository stamped `version` into `dir`. */
export function buildPackage(dir: string, version: string): Promise<BuiltAgentPackage> {
  return buildAgentPackage({ outDir: dir, version });
}

/**
 * Builds a real package of `version`, then replaces its agent bundle with
 * `agentSource`: a package that installs like any other but whose agent does
 * what the source says (exit at once, never connect, ...).
 */
export async function buildBrokenPackage(dir: string, version: string, agentSource: string): Promise<{ file: string }> {
  const built = await buildPackage(dir, version);
  const entries = readTarGz(await readFile(built.file)).map((entry) =>
    entry.type === 'file' && entry.path === `${PACKAGE_ROOT}/${AGENT_BUNDLE}` ? { ...entry, data: Buffer.from(agentSource) } : entry,
  );
  const file = path.join(dir, `broken-${version}.tgz`);
  await writeFile(file, writeTarGz(entries));
  return { file };
}

/** An agent under the launcher, as a service manager would run it. */
export class LauncherProcess {
  private output = '';
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static start(args: string[], env: NodeJS.ProcessEnv = {}): LauncherProcess {
    const child = spawn(process.execPath, [LAUNCHER, ...args], {
      env: { ...process.env, FUSTOR_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new LauncherProcess(child);
  }

  /** Everything the launcher and its agents wrote, stdout and stderr. */
  get log(): string {
    return this.output;
  }

  /** The `msg` of every JSON log line from the named logger, in order. */
  messages(name: 'fustor-launcher' | 'fustor-agent'): Array<Record<string, unknown>> {
    return this.output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return {};
        }
      })
      .filter((entry) => entry.name === name);
  }

  /** Pids of the agent processes the launcher started, in order. */
  agentPids(): number[] {
    return this.messages('fustor-launcher')
      .filter((m) => m.msg === 'agent started')
      .map((m) => Number(m.agent_pid));
  }

  /** SIGTERM, as a service manager stops a service; SIGKILL if it has not ended within 15 s. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    const code = await this.exited;
    clearTimeout(timer);
    // The agent stops when its launcher goes away; wait until the last one is gone.
    const last = this.agentPids().at(-1);
    if (last !== undefined) await eventually(() => !isRunning(last), { timeoutMs: 15_000, message: `agent ${last} exits` });
    return code;
  }
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
