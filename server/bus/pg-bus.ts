import pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import type { Sql } from '../store/sql.js';
import type { AgentBus, AgentBusHandler, AgentBusMessage, AgentBusMessageType } from './agent-bus.js';
import { LocalAgentBus } from './local-bus.js';

/** The PostgreSQL notification channel replicas share. */
export const AGENT_BUS_CHANNEL = 'fusion_agent_bus';
/** PostgreSQL refuses a notification payload of 8000 bytes or more; bus messages are a few hundred. */
const MAX_PAYLOAD_BYTES = 7900;

interface Envelope {
  /** The replica that published it: it already ran its own subscribers. */
  from: string;
  message: AgentBusMessage;
}

export interface PgAgentBusOptions {
  /** Publishes through the store, so a message sent inside a transaction leaves only when it commits. */
  sql: Sql;
  /** Connection string for the listening connection (one per replica, outside the pool). */
  url: string;
  /** This replica's id (messages it published itself are not run twice). */
  replicaId: string;
  log?: Logger;
  /** How long to wait before listening again after the connection broke. Default 1 s. */
  reconnectMs?: number;
  /** The notification channel (default {@link AGENT_BUS_CHANNEL}; clusters in other schemas of the database use their own). */
  channel?: string;
}

/**
 * The {@link AgentBus} of replicas on one PostgreSQL: `NOTIFY` carries each
 * message to every replica (`LISTEN` on a connection of its own), and each
 * runs the subscribers of the agents whose sockets it holds. The publishing
 * replica runs its own subscribers at once, in process, as the local bus does.
 *
 * What a lost notification costs: while a replica's listening connection is
 * down it misses messages, so when it listens again it calls `onResync`
 * (Fusion then re-checks every agent it holds: its desired config, its
 * pending commands), the same repair an agent's reconnect gets.
 */
export class PgAgentBus implements AgentBus {
  private readonly local: LocalAgentBus;
  private client: pg.Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly resyncHandlers = new Set<() => void>();

  constructor(private readonly options: PgAgentBusOptions) {
    this.local = new LocalAgentBus(options.log);
  }

  private get channel(): string {
    return this.options.channel ?? AGENT_BUS_CHANNEL;
  }

  /** Starts listening; resolves once LISTEN is in place. */
  async start(): Promise<void> {
    await this.listen();
  }

  async publish(message: AgentBusMessage, local?: unknown): Promise<void> {
    if (this.closed) return;
    await this.local.dispatch(message, local);
    const payload = JSON.stringify({ from: this.options.replicaId, message } satisfies Envelope);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) throw new Error(`agent bus message too large (${Buffer.byteLength(payload)} bytes)`);
    await this.options.sql.run('SELECT pg_notify(?, ?)', [this.channel, payload]);
  }

  subscribe<T extends AgentBusMessageType>(type: T, handler: AgentBusHandler<T>): () => void {
    return this.local.subscribe(type, handler);
  }

  /** Called after the listening connection came back (messages may have been missed meanwhile). */
  onResync(handler: () => void): () => void {
    this.resyncHandlers.add(handler);
    return () => this.resyncHandlers.delete(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await this.local.close();
    await client?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url, application_name: `fusion-bus-${this.options.replicaId}`.slice(0, 63), keepAlive: true });
    client.on('notification', (n) => this.onNotification(n.payload));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    await client.connect();
    await client.query(`LISTEN ${this.channel}`);
    if (this.closed) {
      await client.end();
      return;
    }
    this.client = client;
  }

  private onNotification(payload: string | undefined): void {
    if (!payload) return;
    let envelope: Envelope;
    try {
      envelope = JSON.parse(payload) as Envelope;
    } catch (err) {
      this.options.log?.warn({ err }, 'an agent bus notification was not JSON; ignored');
      return;
    }
    if (envelope.from === this.options.replicaId) return;
    void this.local.dispatch(envelope.message);
  }

  private lost(client: pg.Client, err?: unknown): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.options.log?.warn({ err }, 'the agent bus lost its listening connection; listening again');
    const again = (): void => {
      this.retry = undefined;
      this.listen().then(
        () => {
          for (const handler of this.resyncHandlers) handler();
        },
        (error: unknown) => {
          this.options.log?.warn({ err: error }, 'the agent bus could not listen again yet');
          if (!this.closed) this.retry = setTimeout(again, this.options.reconnectMs ?? 1000);
        },
      );
    };
    this.retry = setTimeout(again, this.options.reconnectMs ?? 1000);
  }
}
