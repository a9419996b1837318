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
  | { type: 'command_cancel'; agent_id: string; command_id: string }
  /**
   * The agent completed `hello` on `replica_id` (session `session_id`, opened
   * at `connected_at`): a replica holding an older socket of it closes that
   * one with `replaced` (4004); every replica notes where the agent is.
   */
  | { type: 'hello'; agent_id: string; replica_id: string; session_id: string; connected_at: number }
  /** The agent's socket of that session on `replica_id` closed. */
  | { type: 'gone'; agent_id: string; replica_id: string; session_id: string }
  /** Close the agent's socket with this error (revoked, released, decommissioned), wherever it is. */
  | { type: 'disconnect'; agent_id: string; code: 'revoked' | 'credential_expired'; message: string }
  /** An admin asked for the agent's credential to be rotated: the replica holding its socket sends the next one now. */
  | { type: 'rotate_credential'; agent_id: string }
  /**
   * Group rollouts: a rollout (`agent_id` null) or one member's row changed
   * in the database on a replica that does not follow rollouts; the one that
   * does (it holds the rollouts lease) reads it again.
   */
  | { type: 'rollout'; agent_id: string | null; rollout_id: string }
  /** A group was deleted: every replica forgets its cached templates (a group created again under its name starts at revision 1). */
  | { type: 'group_deleted'; agent_id: null; group: string }
  /** An agent's ACK / NACK of `signature`, received by a replica that does not follow rollouts, for the one that does. */
  | { type: 'rollout_ack'; agent_id: string; signature: string; result: 'applied' | 'failed'; error: string | null }
  /** An agent's socket closed on a replica that does not follow rollouts (a soaking member that drops fails). */
  | { type: 'rollout_disconnect'; agent_id: string }
  /**
   * An upgrade command ended (or a batch of `rollout_id` was started) on a
   * replica that does not run upgrade rollouts: the one that does moves the rollout on.
   */
  | { type: 'upgrade_done'; agent_id: string; command_id: string | null; rollout_id: string | null };

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
