import { RawAgentClient } from '../harness/raw-client.js';
import type { StatusFrame } from '../../shared/protocol/index.js';

/**
 * Agents that keep the group commit busy: each enrolls with the enrollment
 * token, then sends a `status` frame every `intervalMs` until stopped or until
 * Fusion goes away. Their writes are the batch an admin's write must never
 * hide inside.
 */
export class StatusLoad {
  private readonly clients: RawAgentClient[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  /** The credential each agent was handed in `welcome` (enrollment). */
  readonly credentials = new Map<string, string>();
  framesSent = 0;

  static async start(url: string, token: string, options: { count: number; prefix: string; intervalMs?: number; pipes?: number }): Promise<StatusLoad> {
    const load = new StatusLoad();
    await Promise.all(
      Array.from({ length: options.count }, async (_, i) => {
        const id = `${options.prefix}-${i}`;
        const client = await RawAgentClient.connect(url, id, token);
        load.clients.push(client);
        // Commands are acknowledged and finished at once, so they move through their whole lifecycle.
        client.ws.on('message', (data) => {
          const frame = JSON.parse(String(data)) as { type: string; command_id?: string };
          if (frame.type !== 'command' || !frame.command_id) return;
          client.send({ type: 'command_ack', command_id: frame.command_id });
          client.send({ type: 'command_result', command_id: frame.command_id, status: 'succeeded', output: { ok: true } });
        });
        const welcome = await client.hello();
        if (welcome.credential) load.credentials.set(id, welcome.credential);
        const pipes = Array.from({ length: options.pipes ?? 1 }, (_, p) => ({ id: `pipe-${p}`, state: 'running' as const, records_sent: i, last_error: null }));
        load.timers.push(setInterval(() => load.send(client, pipes), options.intervalMs ?? 10));
      }),
    );
    return load;
  }

  private send(client: RawAgentClient, pipes: StatusFrame['pipes']): void {
    if (client.closeCode !== undefined) return;
    this.framesSent++;
    pipes[0]!.records_sent = this.framesSent;
    client.send({ type: 'status', pipes });
  }

  /** The agents still connected. */
  get connected(): string[] {
    return this.clients.filter((c) => c.closeCode === undefined).map((c) => c.agentId);
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
    for (const c of this.clients.splice(0)) c.terminate();
  }
}
