/**
 * A simulated fleet in its own process, driven over IPC by a benchmark
 * (see {@link ChildRpc}): the load of N agents stays off the benchmark's own
 * event loop, which only measures.
 */
import { serveRpc } from './child-rpc.js';
import { memoryAfterGc } from './proc-stats.js';
import { SimulatedFleet, type FleetOptions, type FleetSnapshot } from './sim-fleet.js';

let fleet: SimulatedFleet | null = null;

function current(): SimulatedFleet {
  if (!fleet) throw new Error('no fleet: call start first');
  return fleet;
}

const handlers = {
  /** Creates the fleet and starts every agent (the ramp runs on in the background). */
  start(options: FleetOptions): null {
    if (fleet) throw new Error('the fleet is already started');
    fleet = new SimulatedFleet(options);
    fleet.start().catch((err: unknown) => process.stderr.write(`fleet start failed: ${String(err)}\n`));
    return null;
  },
  waitConnected(count: number, timeoutMs: number): Promise<number> {
    return current().waitConnected(count, timeoutMs);
  },
  snapshot(): FleetSnapshot {
    return current().snapshot();
  },
  /** Apply times (epoch ms) of agents whose last apply happened at or after `since`. */
  appliedSince(since: number): number[] {
    return current().appliedSince(since);
  },
  /** `welcome` times (epoch ms) since the last counter reset. */
  welcomeTimes(): number[] {
    return current().welcomeTimes;
  },
  /** Drops every agent's connection at once (a reconnect storm without restarting Fusion). */
  dropAll(): null {
    for (const agent of current().agents) agent.drop();
    return null;
  },
  resetCounters(): null {
    current().resetCounters();
    return null;
  },
  lastConfigFrame(): string {
    return current().lastConfigFrame;
  },
  memory(): ReturnType<typeof memoryAfterGc> {
    return memoryAfterGc();
  },
  async stop(): Promise<null> {
    await fleet?.stop();
    fleet = null;
    return null;
  },
};

export type FleetHandlers = typeof handlers;

serveRpc(handlers, async () => {
  await fleet?.stop();
});
