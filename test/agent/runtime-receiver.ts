import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FileRecord, ScanMarker } from '../../agent/runtime/driver-types.js';

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
  scan?: ScanMarker;
}

/**
 * A small HTTP receiver implementing the data-plane ingest contract, for
 * driving the fusion sender in tests. It records every session and batch and
 * keeps, per agent pipe, the tree the records describe; like Fusion, it
 * removes at the end of a snapshot what the snapshot covered and did not see. Switches let a test
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
  /** Per agent pipe, per snapshot under way: the paths upserted since it began. */
  private readonly snapshots = new Map<string, Map<string, Set<string>>>();
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

  /** Applies a batch to a pipe's tree; at the end of a snapshot, removes what it covered and did not see. */
  private apply(pipeId: string, events: FileRecord[], scan: ScanMarker | undefined): number {
    const tree = this.treeOf(pipeId);
    let open = this.snapshots.get(pipeId);
    if (!open) this.snapshots.set(pipeId, (open = new Map()));
    if (scan && !open.has(scan.id)) open.set(scan.id, new Set());
    for (const record of events) {
      if (record.op === 'upsert') {
        tree.set(record.path, record);
        for (const seen of open.values()) seen.add(record.path);
      } else {
        for (const path of [...tree.keys()]) if (path === record.path || path.startsWith(`${record.path}/`)) tree.delete(path);
      }
    }
    if (!scan?.done) return 0;
    const seen = open.get(scan.id)!;
    open.delete(scan.id);
    const base = scan.path ?? '';
    const under = (path: string, dir: string): boolean => dir === '' ? path !== '' : path.startsWith(`${dir}/`);
    const keep = scan.keep ?? [];
    let removed = 0;
    for (const path of [...tree.keys()]) {
      if (!under(path, base) || seen.has(path)) continue;
      if (scan.recursive === false) {
        // One level deep: below a direct child that is still there, nothing was looked at.
        const rest = path.slice(base === '' ? 0 : base.length + 1);
        const child = rest.includes('/') ? (base === '' ? '' : `${base}/`) + rest.slice(0, rest.indexOf('/')) : null;
        if (child !== null && seen.has(child)) continue;
      }
      if (keep.some((k) => k === path || under(path, k))) continue;
      tree.delete(path);
      removed += 1;
    }
    return removed;
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
      const b = body as { events?: FileRecord[]; scan?: ScanMarker };
      if (!Array.isArray(b?.events)) return error(400, 'bad_request', 'events must be an array');
      if (this.failNextEvents > 0) {
        this.failNextEvents -= 1;
        return error(503, 'unavailable', 'failing this batch for the test');
      }
      if (b.events.length > this.maxEvents) return error(413, 'too_many_events', `at most ${this.maxEvents} events`);
      const removed = this.apply(session.pipe_id, b.events, b.scan);
      this.batches.push({ session: session.id, pipe_id: session.pipe_id, events: b.events, ...(b.scan ? { scan: b.scan } : {}) });
      return answer(200, b.scan?.done ? { accepted: b.events.length, removed } : { accepted: b.events.length });
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
