/**
 * The path from a change to an agent's socket, as one interface: whatever
 * must reach a connected agent (a new desired config, a command, a cancel)
 * is published here, and the part of Fusion that holds the
 * agent's socket subscribes. In one process the bus is in memory
 * ({@link LocalAgentBus}); with replicas on PostgreSQL it carries the same
 * messages between processes, so a save on one replica reaches an agent
 * whose socket another replica holds.
 *
 * Messages name what changed, never carry it: the subscriber reads the
 * current state from the store (a message may be late or repeated, and
 * reading it again is always right). A publisher in the same process may
 * hand a `local` value along (e.g. the rendered document it just stored) that
 * in-process subscribers use instead of reading it back; it never leaves the
 * process.
 */
export type AgentBusMessage =
  /**
   * The agent's desired config changed (`saved`), or what it resolves to did
   * (`resolved`: a secret it references was rotated): push it if connected.
   */
  | { type: 'config'; agent_id: string; revision: number; signature: string; cause: 'saved' | 'resolved' }
  /** A command was queued for the agent: deliver it if connected. */
  | { type: 'command'; agent_id: string; command_id: string }
  /** A queued or sent command was cancelled: tell the agent if connected. */
  | { type: 'command_cancel'; agent_id: string; command_id: string };

export type AgentBusMessageType = AgentBusMessage['type'];
export type AgentBusMessageOf<T extends AgentBusMessageType> = Extract<AgentBusMessage, { type: T }>;
export type AgentBusHandler<T extends AgentBusMessageType> = (message: AgentBusMessageOf<T>, local: unknown) => void | Promise<void>;

export interface AgentBus {
  /**
   * Delivers `message` to every subscriber of its type, in this process and
   * (on a shared bus) in the others. Resolves once this process's subscribers
   * are done (each awaited in turn; one that returns nothing is done at once)
   * and the message is on its way to the others; a subscriber's failure is
   * logged and never reaches the publisher.
   */
  publish(message: AgentBusMessage, local?: unknown): Promise<void>;
  /** Calls `handler` for every message of `type`; returns the unsubscribe. */
  subscribe<T extends AgentBusMessageType>(type: T, handler: AgentBusHandler<T>): () => void;
  close(): Promise<void>;
}
