/**
 * One agent process under the launcher: started with an IPC channel, its
 * stdout passed through, its stderr passed through and its last lines kept
 * (they explain a crash in a rollback reason).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { LAUNCHER_ENV, type LauncherToAgentMessage } from './launcher-protocol.js';
import type { AgentEntry } from './agent-entry.js';

/** How a process ended: its exit code, or the signal that killed it. */
export interface ProcessEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How much of the agent's stderr is kept for failure reasons, in characters. */
const STDERR_TAIL_CHARS = 2048;

export class AgentProcess {
  private readonly child: ChildProcess;
  private tail = '';
  /** Resolves once the process has exited (never rejects: a failed spawn ends as exit code 127). */
  readonly ended: Promise<ProcessEnd>;

  constructor(entry: AgentEntry, args: readonly string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [...entry.execArgv, entry.script, ...args], {
      env: { ...env, [LAUNCHER_ENV]: '1' },
      stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      this.tail = (this.tail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    this.ended = new Promise((resolve) => {
      let spawnError: Error | undefined;
      this.child.once('error', (err) => {
        spawnError = err;
        this.tail += `\n${err.message}`;
        if (this.child.pid === undefined) resolve({ code: 127, signal: null });
      });
      this.child.once('close', (code, signal) => resolve(spawnError && code === null && signal === null ? { code: 127, signal: null } : { code, signal }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last lines the agent wrote to stderr, trimmed. */
  get stderrTail(): string {
    return this.tail.trim();
  }

  /** Calls `listener` with every IPC message from the agent. */
  onMessage(listener: (message: unknown) => void): void {
    this.child.on('message', listener);
  }

  /** Sends a message if the agent is still connected; a lost message is not an error (the agent is going away). */
  send(message: LauncherToAgentMessage): void {
    if (!this.child.connected) return;
    try {
      this.child.send(message, () => undefined);
    } catch {
      // The channel closed between the check and the send.
    }
  }

  /** Delivers a signal if the process still runs. */
  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async terminate(graceMs: number): Promise<ProcessEnd> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const end = await this.ended;
    clearTimeout(timer);
    return end;
  }
}
