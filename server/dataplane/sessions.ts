import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import type { Logger } from '../../shared/logger.js';

/** The leader of a view is the session expected to run full audits into it; followers send what they see. */
export type SessionRole = 'leader' | 'follower';

/** Why a session ended. */
export type SessionCloseReason = 'closed' | 'timeout' | 'pipe_removed' | 'pipe_disabled' | 'pipe_changed' | 'shutdown';

/** What a session is opened for. */
export interface SessionSpec {
  agentId: string;
  /** The agent's own pipe id. */
  agentPipeId: string;
  /** The Fusion pipe (from fusion.yaml) the sender's API key belongs to. */
  pipeId: string;
  receiverId: string;
  viewIds: readonly string[];
  sourceUri?: string | undefined;
  /** Silence after which the session ends, in ms. */
  timeoutMs: number;
}

/** Progress of the latest scan a session pushed (batches tagged with `scan`). */
export interface ScanProgress {
  id: string;
  events: number;
  done: boolean;
  started_at: number;
  finished_at: number | null;
}

/** A session as listings and events show it; times in ms since the Unix epoch. */
export interface SessionInfo {
  session_id: string;
  agent_id: string;
  agent_pipe_id: string;
  pipe_id: string;
  receiver_id: string;
  view_ids: string[];
  source_uri: string | null;
  /** `leader` when the session leads at least one of its views. */
  role: SessionRole;
  /** The views this session leads. */
  leader_of: string[];
  created_at: number;
  last_seen: number;
  age_seconds: number;
  idle_seconds: number;
  events_pushed: number;
  last_scan: ScanProgress | null;
}

export interface LeaderChange {
  view_id: string;
  /** The new leader; null when no live session feeds the view any more. */
  session_id: string | null;
  previous_session_id: string | null;
}

export interface SessionEvents {
  session_created: [SessionInfo];
  session_closed: [SessionInfo & { reason: SessionCloseReason }];
  leader_changed: [LeaderChange];
}

/** What a reload decides for one open session: keep it (maybe re-pointed) or end it. */
export type SessionPlan = { viewIds: readonly string[]; timeoutMs: number } | { close: SessionCloseReason };

interface Session extends SessionSpec {
  id: string;
  /** sha256 of the owner secret handed to the opener only (see {@link SessionRegistry.isOwner}). */
  ownerHash: Buffer;
  createdAt: number;
  lastSeen: number;
  eventsPushed: number;
  lastScan: ScanProgress | null;
}

export interface SessionRegistryOptions {
  logger?: Logger;
  /** Clock, ms since the epoch; swappable for tests. */
  now?: () => number;
}

/**
 * The open ingest sessions. Per view, the oldest live session feeding it is
 * the leader; when it ends the next oldest takes over at once. A session
 * silent past its timeout is ended by one periodic sweep (unref'd, so it never
 * keeps the process alive). Listener errors are logged, never thrown back.
 */
export class SessionRegistry extends EventEmitter<SessionEvents> {
  /** In creation order, which makes "next oldest" the first match. */
  private readonly sessions = new Map<string, Session>();
  private readonly leaders = new Map<string, string>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly logger: Logger | undefined;

  constructor(options: SessionRegistryOptions = {}) {
    super();
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Opens a session. `owner_token` goes to the opener alone: session ids are
   * listed to view readers, so only this secret lets a client push into,
   * heartbeat or close the session.
   */
  open(spec: SessionSpec): SessionInfo & { owner_token: string } {
    const at = this.now();
    const ownerToken = randomBytes(24).toString('base64url');
    const ownerHash = createHash('sha256').update(ownerToken).digest();
    const session: Session = { ...spec, viewIds: [...spec.viewIds], id: nanoid(), ownerHash, createdAt: at, lastSeen: at, eventsPushed: 0, lastScan: null };
    this.sessions.set(session.id, session);
    const changes = this.elect(session.viewIds);
    const info = this.describe(session, at);
    this.logger?.info({ session_id: session.id, agent_id: spec.agentId, pipe_id: spec.pipeId, role: info.role }, 'ingest session opened');
    this.emitSafely('session_created', info);
    for (const change of changes) this.emitSafely('leader_changed', change);
    return { ...info, owner_token: ownerToken };
  }

  /** Whether `token` is the owner secret of the open session `id` (compared in constant time). */
  isOwner(id: string, token: string | undefined): boolean {
    const session = this.sessions.get(id);
    if (!session || token === undefined) return false;
    return timingSafeEqual(createHash('sha256').update(token).digest(), session.ownerHash);
  }

  get(id: string): SessionInfo | undefined {
    const session = this.sessions.get(id);
    return session && this.describe(session, this.now());
  }

  list(): SessionInfo[] {
    const at = this.now();
    return [...this.sessions.values()].map((s) => this.describe(s, at));
  }

  /** The session leading `viewId`, if any. */
  leaderOf(viewId: string): string | undefined {
    return this.leaders.get(viewId);
  }

  /** Marks the session alive; its role, or undefined when it has ended. */
  touch(id: string): SessionRole | undefined {
    const session = this.sessions.get(id);
    if (!session) return undefined;
    session.lastSeen = this.now();
    return this.roleOf(session);
  }

  /** Counts an applied batch (and the scan it belongs to) and marks the session alive. */
  recordBatch(id: string, events: number, scan?: { id: string; done?: boolean | undefined }): void {
    const session = this.sessions.get(id);
    if (!session) return;
    const at = this.now();
    session.lastSeen = at;
    session.eventsPushed += events;
    if (!scan) return;
    if (session.lastScan?.id !== scan.id) session.lastScan = { id: scan.id, events: 0, done: false, started_at: at, finished_at: null };
    const progress = session.lastScan!;
    progress.events += events;
    if (scan.done && !progress.done) {
      progress.done = true;
      progress.finished_at = at;
    }
  }

  /** Ends a session; false when it had already ended. */
  close(id: string, reason: SessionCloseReason): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.endAll([session], reason);
    return true;
  }

  /**
   * Applies a reload to every open session: ends those the plan closes and
   * re-points the rest (views, timeout), then re-elects leaders.
   */
  reconcile(plan: (session: { readonly pipeId: string; readonly receiverId: string }) => SessionPlan): void {
    const ending = new Map<SessionCloseReason, Session[]>();
    const touched = new Set<string>();
    for (const session of this.sessions.values()) {
      const decision = plan(session);
      if ('close' in decision) {
        const list = ending.get(decision.close) ?? [];
        list.push(session);
        ending.set(decision.close, list);
        continue;
      }
      for (const view of session.viewIds) touched.add(view);
      for (const view of decision.viewIds) touched.add(view);
      session.viewIds = [...decision.viewIds];
      session.timeoutMs = decision.timeoutMs;
    }
    for (const [reason, sessions] of ending) this.endAll(sessions, reason);
    // Views that lost every feeder, e.g. removed with their pipe, are dropped from the leader map too.
    for (const view of this.leaders.keys()) touched.add(view);
    for (const change of this.elect(touched)) this.emitSafely('leader_changed', change);
  }

  /** Ends every session silent past its timeout. */
  sweep(): void {
    const at = this.now();
    const expired = [...this.sessions.values()].filter((s) => at - s.lastSeen > s.timeoutMs);
    if (expired.length) this.endAll(expired, 'timeout');
  }

  /** (Re)starts the periodic sweep. */
  startSweeping(intervalMs: number): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => {
      try {
        this.sweep();
      } catch (err) {
        this.logger?.error({ err }, 'session sweep failed');
      }
    }, intervalMs);
    this.sweepTimer.unref();
  }

  /** Stops the sweep and ends every session (reason `shutdown`). */
  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    if (this.sessions.size) this.endAll([...this.sessions.values()], 'shutdown');
  }

  private endAll(sessions: Session[], reason: SessionCloseReason): void {
    const at = this.now();
    const closed = sessions.map((s) => ({ ...this.describe(s, at), reason }));
    const views = new Set<string>();
    for (const session of sessions) {
      this.sessions.delete(session.id);
      for (const view of session.viewIds) views.add(view);
    }
    const changes = this.elect(views);
    for (const info of closed) {
      this.logger?.info({ session_id: info.session_id, agent_id: info.agent_id, pipe_id: info.pipe_id, reason }, 'ingest session ended');
      this.emitSafely('session_closed', info);
    }
    for (const change of changes) this.emitSafely('leader_changed', change);
  }

  /** Keeps a live leader that still feeds the view, else promotes the oldest session feeding it. */
  private elect(viewIds: Iterable<string>): LeaderChange[] {
    const changes: LeaderChange[] = [];
    for (const view of new Set(viewIds)) {
      const current = this.leaders.get(view) ?? null;
      const holder = current === null ? undefined : this.sessions.get(current);
      if (holder?.viewIds.includes(view)) continue;
      let next: string | null = null;
      for (const session of this.sessions.values()) {
        if (session.viewIds.includes(view)) {
          next = session.id;
          break;
        }
      }
      if (next === null) this.leaders.delete(view);
      else this.leaders.set(view, next);
      if (next !== current) changes.push({ view_id: view, session_id: next, previous_session_id: current });
    }
    return changes;
  }

  private roleOf(session: Session): SessionRole {
    return session.viewIds.some((v) => this.leaders.get(v) === session.id) ? 'leader' : 'follower';
  }

  private describe(session: Session, at: number): SessionInfo {
    const leaderOf = session.viewIds.filter((v) => this.leaders.get(v) === session.id);
    return {
      session_id: session.id,
      agent_id: session.agentId,
      agent_pipe_id: session.agentPipeId,
      pipe_id: session.pipeId,
      receiver_id: session.receiverId,
      view_ids: [...session.viewIds],
      source_uri: session.sourceUri ?? null,
      role: leaderOf.length ? 'leader' : 'follower',
      leader_of: leaderOf,
      created_at: session.createdAt,
      last_seen: session.lastSeen,
      age_seconds: Math.max(0, (at - session.createdAt) / 1000),
      idle_seconds: Math.max(0, (at - session.lastSeen) / 1000),
      events_pushed: session.eventsPushed,
      last_scan: session.lastScan && { ...session.lastScan },
    };
  }

  private emitSafely<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): void {
    try {
      (this.emit as (name: keyof SessionEvents, ...values: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.logger?.error({ err, event }, 'session event listener failed');
    }
  }
}
