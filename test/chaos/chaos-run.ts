import { FusionProcess } from '../harness/fusion-process.js';
import { StatusLoad } from './agent-load.js';
import { CommandLifecycle, ConfigSaves, Enrollments, GroupRollouts, type Operation, type Target } from './operations.js';

export interface ChaosOptions {
  /** How many times Fusion is killed (SIGKILL). */
  kills: number;
  /** Raw agents sending `status` (and answering commands) during each round. */
  agents: number;
  /** Longest a round runs before its kill, in ms (kills come earlier, at a random point). */
  maxRoundMs?: number;
  /** Progress lines (what was tried, where it was killed). */
  log?: (line: string) => void;
}

export interface ChaosReport {
  kills: number;
  /** Acknowledged writes, by kind. */
  acked: Record<string, number>;
  /** Acknowledged writes Fusion no longer had after a restart: must be empty. */
  lost: string[];
  /** Where each kill happened. */
  killPoints: string[];
}

/**
 * Kills Fusion with SIGKILL at random points while admins save configs, roll
 * out group templates, send and cancel commands and agents enroll, and raw
 * agents send status and answer commands. After each restart, every write
 * Fusion acknowledged (a 2xx, or a credential in `welcome`) so far must be there.
 * Half the kills come after a random delay, half the moment an
 * acknowledgement of a random kind arrives (its answer is on the wire).
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const fusion = await FusionProcess.start();
  let load: StatusLoad | undefined;
  const ops: Operation[] = [new ConfigSaves(), new GroupRollouts(), new Enrollments(), new CommandLifecycle(() => load?.connected ?? [])];
  const report: ChaosReport = { kills: 0, acked: {}, lost: [], killPoints: [] };
  const counters = new Map<Operation, number>();
  try {
    const setupTarget: Target = { url: fusion.url, adminToken: fusion.adminToken, enrollmentToken: fusion.enrollmentToken, onAck: () => undefined };
    for (const op of ops) await op.setup?.(setupTarget);
    for (let round = 0; round < options.kills; round++) {
      const t0 = Date.now();
      load = await StatusLoad.start(fusion.url, fusion.enrollmentToken, { count: options.agents, prefix: `chaos-load-${round}`, intervalMs: 10 });
      let killed = false;
      let killPoint = '';
      const kill = (why: string): void => {
        if (killed) return;
        killed = true;
        killPoint = why;
        void fusion.kill();
      };
      const maxMs = options.maxRoundMs ?? 1500;
      const onAckKind = round % 2 === 1 ? ops[Math.floor(Math.random() * ops.length)]!.kind : undefined;
      const onAckAfter = 1 + Math.floor(Math.random() * 8);
      let seen = 0;
      const delay = 100 + Math.floor(Math.random() * (maxMs - 100));
      // Ack-triggered rounds still end by the deadline if that kind is slow to come.
      const timer = setTimeout(() => kill(`after ${onAckKind ? maxMs : delay} ms`), onAckKind ? maxMs : delay);
      const target: Target = {
        url: fusion.url,
        adminToken: fusion.adminToken,
        enrollmentToken: fusion.enrollmentToken,
        onAck: (kind) => {
          if (kind === onAckKind && ++seen >= onAckAfter) kill(`on ${kind} acknowledgement #${seen}`);
        },
      };
      const loop = async (op: Operation): Promise<void> => {
        while (!killed) {
          const n = counters.get(op) ?? 0;
          counters.set(op, n + 1);
          await op.step(target, n).catch((err: unknown) => { if (!killed && process.env.CHAOS_DEBUG) log(`${op.kind} step failed: ${(err as Error).message}`); });
        }
      };
      const t1 = Date.now();
      await Promise.all([...ops.map(loop), loop(ops[0]!)]);
      clearTimeout(timer);
      load.stop();
      const t2 = Date.now();
      await fusion.restart();
      const t3 = Date.now();
      report.kills++;
      report.killPoints.push(killPoint);
      const lost = (await Promise.all(ops.map((op) => op.verify(fusion.url, fusion.adminToken)))).flat();
      report.lost = [...new Set([...report.lost, ...lost])];
      log(`kill ${round + 1}/${options.kills} ${killPoint}: acknowledged so far ${summary(ops)}; lost ${report.lost.length} (agents up ${t1 - t0} ms, writes ${t2 - t1} ms, restart ${t3 - t2} ms, verify ${Date.now() - t3} ms)`);
    }
  } finally {
    load?.stop();
    await fusion.stop();
  }
  for (const op of ops) report.acked[op.kind] = op.acked.length;
  return report;
}

function summary(ops: Operation[]): string {
  return ops.map((op) => `${op.acked.length} ${op.kind}s`).join(', ');
}
