import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FileRecord } from '../../agent/runtime/driver-types.js';

/** A session the test receiver opened. */
export interface ReceivedSession {
  id: string;
  agent_id: string;
  pipe_id: string;
  source_uri?: string;
  heartbeats: number;
  closed: boolean;
  /** Ended by the test (expire()); later calls get 404 session_not_found. */
  expired: boolean;
}

/** One accepted events request. */
export interface ReceivedBatch {
  session: string;
  pipe_id: string;
  events: FileRecord[];
  scan?: { id: string; done?: boolean };
}

/**
 * A small HTTP receiver implementing the data-plane ingest contract, for
 * driving the fusion sender in tests. It records every session and batch and
 * keeps, per agent pipe, the tree the records describe. Switches let a test
 * make it answer 503, refuse keys, lower the batch limit, expire sessions or
 * go away entirely (close) and come back on the same port (listen).
 */
export class TestReceiver {
  readonly sessions: ReceivedSession[] = [];
  readonly batches: ReceivedBatch[] = [];
  /** Per agent pipe id: path → last upserted record. */
  readonly trees = new Map<string, Map<string, FileRecord>>();
  /** Requests answered, by outcome, e.g. `events 200`, `sessions 503`. */
  readonly answers: string[] = [];
  apiKey: string;
  /** When true every request is answered 503. */
  unavailable = false;
  /** Events requests still to answer 503 (each one decrements it). */
  failNextEvents = 0;
  /** Largest batch accepted; more is answered 413. */
  maxEvents = 10_000;
  heartbeatIntervalSeconds = 10;
  /** Holds the answer to a session open this long after the session exists (a slow Fusion). */
  sessionAnswerDelayMs = 0;
  private server: Server | null = null;
  private port = 0;
  private nextId = 1;

  constructor(apiKey = 'test-receiver-key') {
    this.apiKey = apiKey;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on the port it had before (or a free one the first time). */
  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { code: 'internal_error', message: String(err) } }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Ends a session as if it had timed out. */
  expire(sessionId: string): void {
    const session = this.sessions.find((s) => s.id === sessionId);
    if (session) session.expired = true;
  }

  sessionsOf(pipeId: string): ReceivedSession[] {
    return this.sessions.filter((s) => s.pipe_id === pipeId);
  }

  treeOf(pipeId: string): Map<string, FileRecord> {
    let tree = this.trees.get(pipeId);
    if (!tree) this.trees.set(pipeId, (tree = new Map()));
    return tree;
  }

  /** Sorted paths the receiver holds for a pipe. */
  pathsOf(pipeId: string): string[] {
    return [...this.treeOf(pipeId).keys()].sort();
  }

  eventCount(pipeId?: string): number {
    return this.batches.filter((b) => !pipeId || b.pipe_id === pipeId).reduce((n, b) => n + b.events.length, 0);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://receiver');
    const parts = url.pathname.split('/').filter(Boolean); // api v1 pipe sessions [id] [action]
    const kind = parts[5] ?? (parts[4] ? 'session' : 'sessions');
    const answer = (status: number, payload?: unknown): void => {
      this.answers.push(`${kind} ${status}`);
      res.statusCode = status;
      if (payload === undefined) {
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(payload));
    };
    const error = (status: number, code: string, message: string): void => answer(status, { error: { code, message } });

    if (this.unavailable) return error(503, 'unavailable', 'receiver is down for the test');
    if (parts.slice(0, 4).join('/') !== 'api/v1/pipe/sessions') return error(404, 'not_found', 'no such route');
    if (req.headers['x-api-key'] !== this.apiKey) return error(401, 'unauthorized', 'missing or unknown X-API-Key');

    if (parts.length === 4 && req.method === 'POST') {
      const b = body as { agent_id?: string; pipe_id?: string; source_uri?: string };
      if (!b?.agent_id || !b.pipe_id) return error(400, 'bad_request', 'agent_id and pipe_id are required');
      const session: ReceivedSession = {
        id: `s${this.nextId++}`,
        agent_id: b.agent_id,
        pipe_id: b.pipe_id,
        ...(b.source_uri ? { source_uri: b.source_uri } : {}),
        heartbeats: 0,
        closed: false,
        expired: false,
      };
      this.sessions.push(session);
      if (this.sessionAnswerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.sessionAnswerDelayMs));
      return answer(201, {
        session_id: session.id,
        pipe_id: 'default',
        view_ids: ['default'],
        role: 'leader',
        session_timeout_seconds: 30,
        heartbeat_interval_seconds: this.heartbeatIntervalSeconds,
      });
    }
    const session = this.sessions.find((s) => s.id === parts[4]);
    if (!session || session.closed || session.expired) return error(404, 'session_not_found', 'session not found or ended');
    if (parts[5] === 'heartbeat' && req.method === 'POST') {
      session.heartbeats += 1;
      return answer(200, { role: 'leader' });
    }
    if (parts[5] === 'events' && req.method === 'POST') {
      const b = body as { events?: FileRecord[]; scan?: { id: string; done?: boolean } };
      if (!Array.isArray(b?.events)) return error(400, 'bad_request', 'events must be an array');
      if (this.failNextEvents > 0) {
        this.failNextEvents -= 1;
        return error(503, 'unavailable', 'failing this batch for the test');
      }
      if (b.events.length > this.maxEvents) return error(413, 'too_many_events', `at most ${this.maxEvents} events`);
      const tree = this.treeOf(session.pipe_id);
      for (const record of b.events) {
        if (record.op === 'upsert') tree.set(record.path, record);
        else tree.delete(record.path);
      }
      this.batches.push({ session: session.id, pipe_id: session.pipe_id, events: b.events, ...(b.scan ? { scan: b.scan } : {}) });
      return answer(200, { accepted: b.events.length });
    }
    if (parts.length === 5 && req.method === 'DELETE') {
      session.closed = true;
      return answer(204);
    }
    return error(404, 'not_found', 'no such route');
  }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as unknown) : undefined;
}
