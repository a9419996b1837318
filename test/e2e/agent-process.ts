import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface AgentProcessOptions {
  home: string;
  agentId: string;
  controlPlaneUri: string;
  authToken: string;
}

/**
 * The `fustor-agent` CLI in a child process, configured by a bootstrap.yaml
 * in its home (the token is not put on the command line). A test kills it
 * with SIGKILL to see what Fusion does when an agent dies without a word.
 */
export class AgentProcess {
  private output = '';

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => this.keep(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.keep(chunk));
  }

  static async start(options: AgentProcessOptions): Promise<AgentProcess> {
    await mkdir(options.home, { recursive: true });
    const bootstrap = {
      agent_id: options.agentId,
      control_plane_uri: options.controlPlaneUri,
      auth_token: options.authToken,
      connect_timeout_ms: 300,
      backoff: { base_ms: 20, cap_ms: 100 },
    };
    await writeFile(path.join(options.home, 'bootstrap.yaml'), YAML.stringify(bootstrap), { mode: 0o600 });
    const child = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', '--home', options.home, '--log-level', 'warn'], {
      cwd: ROOT,
      env: { ...process.env, FUSTOR_HOME: options.home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new AgentProcess(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** What the process wrote so far (its last 64 KiB), for failure messages. */
  get log(): string {
    return this.output;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** SIGKILL: no shutdown hook runs, no session is closed. Resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await gone;
  }

  private keep(chunk: Buffer): void {
    this.output = (this.output + chunk.toString('utf8')).slice(-65_536);
  }
}
