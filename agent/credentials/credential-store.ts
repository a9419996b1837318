/**
 * The agent's per-agent credential. An agent enrolls with the enrollment
 * token of its bootstrap options; Fusion answers with a credential bound to
 * the agent id (in `welcome`, or the enroll endpoint's answer), which the
 * agent keeps in `$FUSTOR_HOME/agent-state/credential.json` (mode 0600) and
 * presents from then on, so revoking the enrollment token leaves it
 * connected. Fusion replaces it before it expires (rotation); the agent keeps
 * the credentials it held before, until they expire, so a Fusion restored
 * from a backup that predates a rotation still knows one of them.
 *
 * Which token is presented ({@link CredentialStore.current}):
 * - the stored credential, when it was issued to this agent id (whichever
 *   enrollment token it was issued under: an enrolled id is not enrolled again);
 * - nothing, when that enrollment token was the one of a revoked credential:
 *   the agent never silently re-enrolls with the token it was revoked under;
 * - else the bootstrap token, so an operator brings a revoked agent back by
 *   giving it a new enrollment token.
 *
 * A credential Fusion does not know, or one that expired or was released,
 * is dropped for the previous one still held, else for the bootstrap token:
 * the agent enrols again, so no fault on Fusion's side locks it out. Only a
 * revocation keeps it out.
 *
 * Secrets never reach a log; tokens are compared by their sha256 digests in
 * constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import { CloseCode, REENROLL_ERROR_CODES } from '../../shared/protocol/index.js';
import { writeFileAtomic } from '../../shared/atomic-write.js';

/** Directory of the agent's state files inside its home. */
export const STATE_DIR = 'agent-state';
/** The stored credential. */
export const CREDENTIAL_FILE = 'credential.json';
/** The enrollment token whose credential was revoked (its digest only). */
export const REVOKED_ENROLLMENT_FILE = 'revoked-enrollment.json';

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
/** Older credentials kept after rotations. */
const MAX_PREVIOUS = 8;

/** credential.json. */
export const StoredCredential = z.object({
  agent_id: z.string().min(1),
  /** The secret Fusion issued; sent as the Bearer token. */
  credential: z.string().min(1).max(4096),
  /** ISO 8601 time the credential was received. */
  enrolled_at: z.string(),
  /** sha256 (hex) of the enrollment token the agent enrolled with. */
  enrollment_token_sha256: Sha256Hex,
  /** Epoch ms Fusion stops accepting it; absent when Fusion gave none. */
  expires_at: z.number().int().nonnegative().optional(),
  /** Credentials held before a rotation, newest first, kept until they expire. */
  previous: z.array(z.object({ credential: z.string().min(1).max(4096), expires_at: z.number().int().nonnegative().optional() })).max(MAX_PREVIOUS).default([]),
});
export type StoredCredential = z.infer<typeof StoredCredential>;

/** revoked-enrollment.json: the agent must not come back with this enrollment token. */
export const RevokedEnrollment = z.object({
  agent_id: z.string().min(1),
  enrollment_token_sha256: Sha256Hex,
  /** ISO 8601 time of the revocation. */
  revoked_at: z.string(),
});
export type RevokedEnrollment = z.infer<typeof RevokedEnrollment>;

/** The Bearer token to present, and what it is. */
export interface PresentedToken {
  token: string;
  /** `credential`: the stored per-agent credential; `bootstrap`: the token of the bootstrap options (enrollment). */
  kind: 'credential' | 'bootstrap';
}

/** How Fusion refused or ended a request or connection that presented a token. */
export interface Refusal {
  /** HTTP status of a refused request or upgrade. */
  status?: number;
  /** The error code of a refused request or upgrade's body (`{error:{code}}`). */
  code?: string | undefined;
  /** WebSocket close code of an ended connection. */
  closeCode?: number;
}

export interface CredentialStoreOptions {
  /** The agent's home ($FUSTOR_HOME). */
  home: string;
  agentId: string;
  /** The bootstrap auth_token (an enrollment token, usually). */
  bootstrapToken: string;
  logger: Logger;
}

export class CredentialStore {
  readonly file: string;
  readonly revokedFile: string;
  private readonly bootstrapDigest: Buffer;
  private stored: StoredCredential | null = null;
  private revoked: RevokedEnrollment | null = null;
  private loading: Promise<void> | null = null;
  /** Writes and deletes, one at a time, in the order they were asked for. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: CredentialStoreOptions) {
    this.file = path.join(options.home, STATE_DIR, CREDENTIAL_FILE);
    this.revokedFile = path.join(options.home, STATE_DIR, REVOKED_ENROLLMENT_FILE);
    this.bootstrapDigest = sha256(options.bootstrapToken);
  }

  /**
   * The Bearer token every request to the control plane presents now (the
   * WebSocket upgrade, polls, package downloads), or null when the agent was
   * revoked under its bootstrap token and needs a new enrollment token.
   * Reads the state files on first use and waits for pending writes.
   */
  async current(): Promise<PresentedToken | null> {
    await this.ready();
    await this.queue;
    const { agentId, bootstrapToken } = this.options;
    // A credential outlives a change of the bootstrap token (a fleet's enrollment token rotated):
    // Fusion enrols an id once, so presenting the new token instead would be refused.
    if (this.stored && this.stored.agent_id === agentId) return { token: this.stored.credential, kind: 'credential' };
    if (this.revoked && this.revoked.agent_id === agentId && this.issuedForBootstrap(this.revoked.enrollment_token_sha256)) return null;
    return { token: bootstrapToken, kind: 'bootstrap' };
  }

  /**
   * Keeps a credential Fusion issued: on enrollment, or the successor of the
   * one held (rotation; the one held is kept as a previous one until it
   * expires). Resolves true once it is on disk (only then may a
   * `credential_ack` follow); never rejects, a failed write is logged.
   */
  enrolled(credential: string, expiresAt?: number): Promise<boolean> {
    return this.enqueue(async () => {
      const now = Date.now();
      const held = this.stored && this.stored.agent_id === this.options.agentId ? this.stored : null;
      const previous = held
        ? [{ credential: held.credential, ...(held.expires_at !== undefined && { expires_at: held.expires_at }) }, ...held.previous]
            .filter((p) => p.credential !== credential && (p.expires_at === undefined || p.expires_at > now))
            .slice(0, MAX_PREVIOUS)
        : [];
      const record: StoredCredential = {
        agent_id: this.options.agentId,
        credential,
        enrolled_at: new Date(now).toISOString(),
        enrollment_token_sha256: this.bootstrapDigest.toString('hex'),
        ...(expiresAt !== undefined && { expires_at: expiresAt }),
        previous,
      };
      this.stored = record;
      await writeFileAtomic(this.file, `${JSON.stringify(record, null, 2)}\n`, 0o600);
      this.options.logger.info({ file: this.file, expiresAt }, held ? 'stored the next per-agent credential' : 'enrolled with Fusion; stored the per-agent credential');
    }, 'cannot store the per-agent credential; it is used until the agent restarts');
  }

  /**
   * Fusion refused what `presented`, or ended its connection. A close with
   * the revoked code, or a 401 `revoked` to the stored credential, is a
   * revocation: the credential is deleted and its enrollment token is not
   * presented again. A credential Fusion does not know, or that expired or was
   * released, is replaced by the previous one held, else by the bootstrap
   * token (the agent enrols again). Resolves whether it was a revocation;
   * never rejects.
   */
  async refused(presented: PresentedToken, how: Refusal): Promise<boolean> {
    if (presented.kind === 'credential' && this.reenrollable(how)) {
      await this.dropCredential(presented.token);
      return false;
    }
    const revoked = how.closeCode === CloseCode.Revoked || (how.status === 401 && presented.kind === 'credential');
    if (!revoked) return false;
    await this.enqueue(async () => {
      const record: RevokedEnrollment = {
        agent_id: this.options.agentId,
        enrollment_token_sha256: this.bootstrapDigest.toString('hex'),
        revoked_at: new Date().toISOString(),
      };
      // Memory first, so a failed write cannot lead this process back in with the old token;
      // on disk the marker first, so a crash in between leaves a credential Fusion refuses, never a way back in.
      this.revoked = record;
      this.stored = null;
      await writeFileAtomic(this.revokedFile, `${JSON.stringify(record, null, 2)}\n`, 0o600);
      await rm(this.file, { force: true });
    }, 'cannot record the revocation on disk');
    this.options.logger.error(
      { agentId: this.options.agentId, status: how.status, closeCode: how.closeCode },
      'Fusion revoked this agent; a new enrollment token is needed (set auth_token in bootstrap.yaml or --auth-token, then restart the agent)',
    );
    return true;
  }

  private reenrollable(how: Refusal): boolean {
    if (how.closeCode === CloseCode.CredentialUnknown || how.closeCode === CloseCode.CredentialExpired) return true;
    return how.status === 401 && how.code !== undefined && REENROLL_ERROR_CODES.has(how.code);
  }

  /** Stops presenting `credential`: the newest previous one still valid takes its place, else none (enrol again). */
  private dropCredential(credential: string): Promise<boolean> {
    return this.enqueue(async () => {
      const held = this.stored;
      if (!held || held.credential !== credential) return;
      const now = Date.now();
      const [next, ...rest] = held.previous.filter((p) => p.expires_at === undefined || p.expires_at > now);
      if (next) {
        this.stored = { ...held, credential: next.credential, previous: rest, ...(next.expires_at !== undefined ? { expires_at: next.expires_at } : {}) };
        if (next.expires_at === undefined) delete this.stored.expires_at;
        await writeFileAtomic(this.file, `${JSON.stringify(this.stored, null, 2)}\n`, 0o600);
        this.options.logger.warn('Fusion does not accept the current credential; trying the previous one');
        return;
      }
      this.stored = null;
      await rm(this.file, { force: true });
      this.options.logger.warn('Fusion does not know this credential (restored from a backup, expired or released); enrolling again with the enrollment token');
    }, 'cannot drop the refused credential');
  }

  private issuedForBootstrap(digestHex: string): boolean {
    const digest = Buffer.from(digestHex, 'hex');
    return digest.length === this.bootstrapDigest.length && timingSafeEqual(digest, this.bootstrapDigest);
  }

  private ready(): Promise<void> {
    this.loading ??= this.load();
    return this.loading;
  }

  private async load(): Promise<void> {
    this.stored = await this.readState(this.file, StoredCredential);
    this.revoked = await this.readState(this.revokedFile, RevokedEnrollment);
  }

  /** Reads one state file; a missing one is null, an unusable one is logged and ignored. Narrows a mode wider than 0600. */
  private async readState<T>(file: string, schema: z.ZodType<T>): Promise<T | null> {
    const { logger } = this.options;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
      const mode = (await stat(file)).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        await chmod(file, 0o600);
        logger.warn({ file, mode: mode.toString(8) }, 'agent state file was readable by others; narrowed it to 0600');
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ file, err: (err as Error).message }, 'cannot read an agent state file; ignoring it');
      return null;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      logger.warn({ file }, 'agent state file is malformed; ignoring it');
      return null;
    }
    return parsed.data;
  }

  /** Runs `work` after the writes before it; resolves whether it succeeded (a failure is logged). */
  private enqueue(work: () => Promise<void>, failure: string): Promise<boolean> {
    const run = this.queue
      .then(() => this.ready())
      .then(work)
      .then(
        () => true,
        (err: unknown) => {
          this.options.logger.error({ err: err instanceof Error ? err.message : String(err) }, failure);
          return false;
        },
      );
    this.queue = run.then(() => undefined);
    return run;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
