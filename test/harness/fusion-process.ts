import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_ADMIN_TOKEN, TEST_ENROLLMENT_TOKEN } from './fusion.js';
import { eventually } from './eventually.js';
import { tempHome } from './temp-home.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Fusion in a child process (`node --import tsx server/main.ts`), for tests
 * that kill it with SIGKILL: what a crash leaves behind is what the next start sees.
 */
export class FusionProcess {
  private child: ChildProcess | undefined;
  url = '';
  readonly adminToken = TEST_ADMIN_TOKEN;
  readonly enrollmentToken = TEST_ENROLLMENT_TOKEN;

  private constructor(
    readonly home: string,
    private readonly removeHome: () => Promise<void>,
  ) {}

  static async start(): Promise<FusionProcess> {
    const home = await tempHome('fusion-proc-');
    const proc = new FusionProcess(home.path, home.remove);
    await proc.spawn(0);
    return proc;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  api(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${this.adminToken}`);
    return fetch(`${this.url}${path}`, { ...init, headers });
  }

  /** SIGKILL: no shutdown hook runs. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || hasExited(child)) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts again on the same home and port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn(this.port);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && !hasExited(child)) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await this.removeHome();
  }

  private async spawn(port: number): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', '--port', String(port), '--home', this.home], {
      cwd: ROOT,
      env: { ...process.env, FUSION_ADMIN_TOKEN: this.adminToken, FUSION_ENROLLMENT_TOKEN: this.enrollmentToken, FUSTOR_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    this.url = await eventually(
      () => {
        if (child.exitCode !== null) throw new Error(`fusion exited with ${child.exitCode}: ${output}`);
        const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
        return match?.[1];
      },
      { timeoutMs: 20_000, message: 'fusion process start' },
    );
  }
}

/** A child killed by a signal has a null exitCode and its signalCode set. */
function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}
