import type { Logger } from '../../shared/logger.js';
import type { AgentBus, AgentBusHandler, AgentBusMessage, AgentBusMessageType } from './agent-bus.js';

/** A handler stored without its message type (the map's key keeps them apart). */
type AnyHandler = (message: AgentBusMessage, local: unknown) => void | Promise<void>;

/**
 * The in-process {@link AgentBus}: one Fusion process holds every socket, so a
 * message goes straight to this process's subscribers, in subscription order:
 * each starts at once (a config push leaves before the answer to the save
 * that caused it) and one that returns a promise is awaited before the next.
 * A subscriber that fails is logged; the others still run.
 */
export class LocalAgentBus implements AgentBus {
  private readonly handlers = new Map<AgentBusMessageType, Set<AnyHandler>>();
  private closed = false;

  constructor(private readonly log?: Logger) {}

  publish(message: AgentBusMessage, local?: unknown): Promise<void> {
    return this.closed ? Promise.resolve() : this.dispatch(message, local);
  }

  /** Runs the subscribers of `message.type` here (also used by shared buses for what arrives from elsewhere). */
  async dispatch(message: AgentBusMessage, local?: unknown): Promise<void> {
    const handlers = this.handlers.get(message.type);
    if (!handlers) return;
    for (const handler of [...handlers]) {
      try {
        const done = handler(message, local);
        if (done) await done;
      } catch (err) {
        this.log?.error({ err, type: message.type, agent_id: message.agent_id }, 'an agent bus subscriber failed');
      }
    }
  }

  subscribe<T extends AgentBusMessageType>(type: T, handler: AgentBusHandler<T>): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    const stored = handler as unknown as AnyHandler;
    set.add(stored);
    return () => set.delete(stored);
  }

  close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    return Promise.resolve();
  }
}
