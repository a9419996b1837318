import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runsFromSource } from '../../shared/package-root.js';
import { TEST_ADMIN_TOKEN, TEST_ENROLLMENT_TOKEN } from './fusion.js';
import { eventually } from './eventually.js';
import { tempHome } from './temp-home.js';
import { forgetHome, postgresUrlForHome, testDatabaseBackend } from './test-database.js';

/**
 * How the child runs Fusion: the harness from source starts `server/main.ts`
 * through tsx, the compiled harness (`fustor/testing` in another project)
 * starts what `npm start` runs, bin/fusion.js (the bundle dist/bin/fusion.cjs), with plain node.
 */
const FUSION_ARGS = runsFromSource(import.meta.url)
  ? ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../../server/main.ts', import.meta.url))]
  : [fileURLToPath(new URL('../../../bin/fusion.js', import.meta.url))];

/**
 * Fusion in a child process (started as {@link FUSION_ARGS} says), for tests
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
    /** More environment for the child (Fusion's FUSION_* settings). */
    private readonly env: Record<string, string> = {},
  ) {}

  /** `files` are written into the new home first (e.g. `fusion.yaml`), by name. */
  static async start(options: { env?: Record<string, string>; files?: Record<string, string> } = {}): Promise<FusionProcess> {
    const home = await tempHome('fusion-proc-');
    for (const [name, text] of Object.entries(options.files ?? {})) await writeFile(join(home.path, name), text, { mode: 0o600 });
    // FUSION_TEST_DATABASE=postgres: the state lives in a PostgreSQL schema of this home's own.
    const env = testDatabaseBackend() === 'postgres' ? { FUSION_DATABASE_URL: await postgresUrlForHome(home.path), ...options.env } : options.env;
    const proc = new FusionProcess(home.path, async () => {
      await home.remove();
      await forgetHome(home.path);
    }, env);
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
    const child = spawn(process.execPath, [...FUSION_ARGS, '--port', String(port), '--home', this.home], {
      env: { ...process.env, FUSION_ADMIN_TOKEN: this.adminToken, FUSION_ENROLLMENT_TOKEN: this.enrollmentToken, FUSTOR_LOG_LEVEL: 'info', ...this.env },
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
      { timeoutMs: 60_000, message: 'fusion process start' },
    );
  }
}

/** A child killed by a signal has a null exit code: it has exited all the same. */
function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}
