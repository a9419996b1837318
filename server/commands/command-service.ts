import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import {
  TERMINAL_COMMAND_STATUSES,
  parseCommandArgs,
  type CommandAckFrame,
  type CommandResultFrame,
  type CommandType,
} from '../../shared/protocol/index.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentBus } from '../bus/agent-bus.js';
import { HttpError } from '../http/errors.js';
import type { CommandRecord, CommandStore } from './command-store.js';

/** How often a wait for a command's end reads it again (its result may reach another replica). */
const WAIT_CHECK_MS = 500;

/** Default time a command may wait for a result: one day. */
export const DEFAULT_COMMAND_TTL_SECONDS = 86_400;

export interface CreateCommand {
  agentIds: string[];
  type: string;
  args: unknown;
  ttlSeconds?: number | undefined;
  author: string;
}

/**
 * Command lifecycle (design §5): queued → sent → acknowledged → succeeded |
 * failed, or expired / cancelled. Every transition is stored before anything
 * goes on the wire, so a crash loses nothing: on the next connection every
 * command that is not terminal is delivered again, and the agent's memory of
 * executed ids keeps it from running twice.
 */
export class CommandService extends EventEmitter<{ transition: [record: CommandRecord] }> {
  private sweeper: NodeJS.Timeout | undefined;
  /** Hooks that add to a command's args before it is stored (e.g. the package hash for upgrade). */
  private readonly enrichers = new Map<CommandType, (args: Record<string, unknown>) => Promise<Record<string, unknown>>>();
  private readonly keepers = new Map<CommandType, (record: CommandRecord, output: unknown) => unknown>();
  /** Checks run inside the transaction that stores a type's commands (e.g. the package still exists, held against a delete). */
  private readonly guards = new Map<CommandType, (args: Record<string, unknown>) => Promise<unknown>>();

  constructor(
    private readonly store: CommandStore,
    private readonly gateway: WsGateway,
    /** New commands and cancels leave here for the agent's socket, whichever part of Fusion holds it. */
    private readonly bus: AgentBus,
    private readonly log: Logger,
    private readonly sweepIntervalMs = 1000,
  ) {
    super();
    this.setMaxListeners(0);
    gateway.on('frame', (conn, frame) => {
      // Returned, so the gateway awaits the write before the connection's next frame.
      if (frame.type === 'command_ack') return this.onAck(conn, frame);
      if (frame.type === 'command_result') return this.onResult(conn, frame);
      return undefined;
    });
    // A message from this process hands over the record; one from elsewhere names it, and the store has it.
    bus.subscribe('command', async (m, local) => {
      const conn = this.gateway.get(m.agent_id);
      if (!conn?.established) return;
      const record = (local as CommandRecord | undefined) ?? (await this.store.get(m.command_id, false));
      if (record && record.agent_id === m.agent_id && record.status === 'queued') await this.deliver(conn, record);
    });
    bus.subscribe('command_cancel', (m) => {
      this.gateway.get(m.agent_id)?.send({ type: 'command_cancel', command_id: m.command_id });
    });
  }

  setEnricher(type: CommandType, enrich: (args: Record<string, unknown>) => Promise<Record<string, unknown>>): void {
    this.enrichers.set(type, enrich);
  }

  /** A check that must still hold when a type's commands commit: run inside the transaction that stores them (what it throws stores nothing). */
  setGuard(type: CommandType, guard: (args: Record<string, unknown>) => Promise<unknown>): void {
    this.guards.set(type, guard);
  }

  /**
   * Keeps a type's successful output somewhere of its own (e.g. a diagnostics
   * bundle); what `keep` returns is stored as the command's output instead.
   */
  setOutputKeeper(type: CommandType, keep: (record: CommandRecord, output: unknown) => unknown): void {
    this.keepers.set(type, keep);
  }

  /**
   * Starts expiring commands whose ttl passed (every `sweepIntervalMs`).
   * One replica of a cluster does it, under the commands lease.
   */
  startExpiry(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => void this.expireDue(), this.sweepIntervalMs);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Validates, stores (all or none) and sends to the agents that are online. */
  async create(input: CreateCommand): Promise<CommandRecord[]> {
    const parsed = parseCommandArgs(input.type, input.args);
    if (!parsed.ok) throw new HttpError(400, 'invalid_command', parsed.errors.join('; '), parsed.errors);
    const ttl = input.ttlSeconds ?? DEFAULT_COMMAND_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 30 * 86_400) {
      throw new HttpError(400, 'invalid_command', 'ttl_seconds must be a whole number from 1 to 2592000');
    }
    const enrich = this.enrichers.get(parsed.type);
    const args = enrich ? await enrich(parsed.args) : parsed.args;
    const now = Date.now();
    const batchId = input.agentIds.length > 1 ? nanoid(12) : null;
    const records = input.agentIds.map((agentId) => ({
      id: nanoid(16),
      agent_id: agentId,
      type: parsed.type,
      args,
      author: input.author,
      created_at: now,
      expires_at: now + ttl * 1000,
      batch_id: batchId,
    }));
    const guard = this.guards.get(parsed.type);
    await this.store.insert(records, guard && (() => guard(args)));
    const created: CommandRecord[] = [];
    for (const r of records) created.push((await this.store.get(r.id, false))!);
    for (const record of created) {
      this.emit('transition', record);
      await this.bus.publish({ type: 'command', agent_id: record.agent_id, command_id: record.id }, record);
    }
    return created;
  }

  /** Sends every command still owed to a newly connected agent, in the order they were created. */
  async deliverPending(conn: AgentConnection): Promise<void> {
    for (const record of await this.store.pending(conn.agentId)) await this.deliver(conn, record);
  }

  /** Cancels a queued or sent command (409 `not_cancellable` otherwise); `reason` is recorded with the transition. */
  async cancel(id: string, reason = 'cancelled by an admin'): Promise<CommandRecord> {
    const current = await this.get(id);
    if (TERMINAL_COMMAND_STATUSES.has(current.status) || current.status === 'acknowledged') {
      throw new HttpError(409, 'not_cancellable', `command ${id} is ${current.status}; only queued or sent commands can be cancelled`);
    }
    const record = await this.store.transition(id, 'cancelled', { detail: reason });
    if (!record) throw new HttpError(409, 'not_cancellable', `command ${id} changed state; try again`);
    this.emit('transition', record);
    await this.bus.publish({ type: 'command_cancel', agent_id: record.agent_id, command_id: id });
    return record;
  }

  /** Commands of `type` not yet finished (queued, sent, acknowledged) whose `args[arg]` is `value`, oldest first. */
  async liveWithArg(type: CommandType, arg: string, value: string): Promise<CommandRecord[]> {
    return await this.store.liveWithArg(type, arg, value);
  }

  async get(id: string): Promise<CommandRecord> {
    const record = await this.store.get(id);
    if (!record) throw new HttpError(404, 'not_found', `command ${id} not found`);
    return record;
  }

  /** Resolves with the command once it is terminal, or as it is when `waitMs` ends. */
  async waitTerminal(id: string, waitMs: number): Promise<CommandRecord> {
    const record = await this.get(id);
    if (TERMINAL_COMMAND_STATUSES.has(record.status) || waitMs <= 0) return record;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(check);
        this.off('transition', listener);
        resolve();
      };
      const listener = (r: CommandRecord): void => {
        if (r.id === id && TERMINAL_COMMAND_STATUSES.has(r.status)) done();
      };
      const timer = setTimeout(done, waitMs);
      // The result may arrive on another replica (its transition is not seen here): the store is asked too.
      const check = setInterval(() => {
        this.store.get(id, false).then(
          (r) => {
            if (r && TERMINAL_COMMAND_STATUSES.has(r.status)) done();
          },
          () => undefined,
        );
      }, WAIT_CHECK_MS);
      check.unref();
      this.on('transition', listener);
    });
    return await this.get(id);
  }

  private async deliver(conn: AgentConnection, record: CommandRecord): Promise<void> {
    if (record.expires_at !== null && record.expires_at <= Date.now()) {
      await this.finish(record.id, 'expired', { error: 'expired before delivery' });
      return;
    }
    if (record.status === 'acknowledged') await this.store.redelivered(record.id);
    else {
      const sent = await this.store.transition(record.id, 'sent', { detail: `session ${conn.sessionId}` });
      if (!sent) return;
      this.emit('transition', sent);
    }
    conn.send({ type: 'command', command_id: record.id, command_type: record.type, args: record.args, expires_at: record.expires_at });
  }

  private async onAck(conn: AgentConnection, frame: CommandAckFrame): Promise<void> {
    const record = await this.store.get(frame.command_id, false);
    if (!record || record.agent_id !== conn.agentId) {
      conn.log.warn({ command_id: frame.command_id }, 'ack for a command this agent does not have');
      return;
    }
    const acked = await this.store.transition(frame.command_id, 'acknowledged');
    if (acked) this.emit('transition', acked);
  }

  private async onResult(conn: AgentConnection, frame: CommandResultFrame): Promise<void> {
    const record = await this.store.get(frame.command_id, false);
    if (!record || record.agent_id !== conn.agentId) {
      conn.log.warn({ command_id: frame.command_id }, 'result for a command this agent does not have');
      return;
    }
    if (frame.status === 'succeeded') {
      const keep = this.keepers.get(record.type as CommandType);
      if (keep && (record.status === 'sent' || record.status === 'acknowledged')) {
        await this.finish(frame.command_id, 'succeeded', { output: await keep(record, frame.output ?? null) });
      } else await this.finish(frame.command_id, 'succeeded', { output: frame.output ?? null });
    }
    else await this.finish(frame.command_id, 'failed', { error: frame.error ?? 'failed without a reason' });
  }

  private async finish(id: string, to: 'succeeded' | 'failed' | 'expired', extra: { output?: unknown; error?: string }): Promise<void> {
    const record = await this.store.transition(id, to, extra);
    if (record) this.emit('transition', record);
  }

  private async expireDue(): Promise<void> {
    try {
      for (const id of await this.store.dueForExpiry()) await this.finish(id, 'expired', { error: 'ttl passed before a result' });
    } catch (err) {
      this.log.error({ err }, 'command expiry sweep failed');
    }
  }
}
