import { Agent, request } from 'node:http';
import { sampleConfig } from '../harness/sample-config.js';

/** One config save Fusion answered 201: it must survive anything that happens after. */
export interface AckedSave {
  agentId: string;
  signature: string;
}

/**
 * Admin config saves in `concurrency` parallel loops (agent ids `<prefix>-<loop>`),
 * each save a new document. A save counts as acknowledged the moment its 201
 * status line arrives, which is also when `onAck` may kill Fusion: the answer
 * is on the wire, so the write must already be committed.
 */
export class SaveLoops {
  readonly acked: AckedSave[] = [];
  attempted = 0;
  private running = true;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly url: string,
    private readonly adminToken: string,
    private readonly options: { concurrency: number; prefix: string; onAck?: (save: AckedSave) => void },
  ) {
    for (let loop = 0; loop < options.concurrency; loop++) this.loops.push(this.run(`${options.prefix}-${loop}`));
  }

  private async run(agentId: string): Promise<void> {
    for (let i = 0; this.running; i++) {
      const saved = await this.save(agentId, i).catch(() => undefined);
      if (saved === undefined) return; // Fusion is gone (killed) or refused: this loop ends.
    }
  }

  private save(agentId: string, i: number): Promise<AckedSave | undefined> {
    this.attempted++;
    const body = JSON.stringify(sampleConfig({ root: `/srv/${agentId}/${i}` }));
    const target = new URL(`/api/v1/management/agents/${agentId}/config/structured`, this.url);
    return new Promise((resolve, reject) => {
      const req = request(
        target,
        {
          method: 'POST',
          agent: this.agent,
          headers: { authorization: `Bearer ${this.adminToken}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          if (res.statusCode !== 201) return resolve(undefined);
          const save = { agentId, signature: String(res.headers['x-config-signature']) };
          this.acked.push(save);
          this.options.onAck?.(save);
          res.on('close', () => resolve(save));
        },
      );
      req.on('error', reject);
      // Head and body in separate packets, as browsers and fetch send them:
      // the body then arrives in a later event-loop turn than the head.
      req.flushHeaders();
      setImmediate(() => req.end(body));
    });
  }

  /** Stops starting new saves and waits for the loops to end. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
  }
}

/** The acknowledged saves whose revision Fusion no longer has. */
export async function lostSaves(url: string, adminToken: string, acked: AckedSave[]): Promise<AckedSave[]> {
  const stored = new Map<string, Set<string>>();
  for (const agentId of new Set(acked.map((s) => s.agentId))) {
    const res = await fetch(`${url}/api/v1/management/agents/${agentId}/config/history?limit=1000`, { headers: { authorization: `Bearer ${adminToken}` } });
    const revisions = res.status === 200 ? ((await res.json()) as { revisions: Array<{ signature: string }> }).revisions : [];
    stored.set(agentId, new Set(revisions.map((r) => r.signature)));
  }
  return acked.filter((s) => !stored.get(s.agentId)?.has(s.signature));
}
