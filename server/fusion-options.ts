/** The options a FusionServer is started with (main.ts reads them from flags and the environment). */
import type { Logger } from '../shared/logger.js';
import type { CredentialPolicy } from './auth/agent-credentials.js';
import type { FailedAuthLimits } from './auth/failed-auth-limiter.js';
import type { DbSync } from './store/database.js';
import type { RetentionSettings } from './store/retention.js';
import type { DispatcherOptions } from './webhooks/webhook-dispatcher.js';

export interface FusionOptions {
  /** Fusion's state directory (`FUSTOR_HOME`): fusion.db, fusion.yaml. */
  home: string;
  host?: string;
  /** 0 picks a free port. Default 8102. */
  port?: number;
  /** Seeds the admin token instead of generating one (FUSION_ADMIN_TOKEN). */
  adminToken?: string;
  /** Seeds the enrollment token instead of generating one (FUSION_ENROLLMENT_TOKEN). */
  enrollmentToken?: string;
  /** WebSocket ping interval announced in `welcome`. Default 15 s. */
  heartbeatIntervalMs?: number;
  /** Default 10 s. */
  helloTimeoutMs?: number;
  /** Delay agents are told to wait before reconnecting after a planned shutdown. Default 1 s. */
  shutdownRetryAfterMs?: number;
  /** How often expired commands are swept. Default 1 s. */
  commandSweepIntervalMs?: number;
  /** Keep-alive interval of the management event stream. Default 15 s. */
  eventHeartbeatMs?: number;
  /** Serve HTTPS and WSS (PEM contents). With `ca` and `requireClientCert`, agents and admins must present a client certificate signed by it. */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer; requireClientCert?: boolean };
  /** Largest agent package an admin may upload, in bytes. Default 128 MiB. */
  maxPackageBytes?: number;
  /** Ed25519 public key (PEM) uploads must be signed with; without it a signature is optional. */
  packagePublicKey?: string;
  /** Largest size an uploaded package may unpack to, in bytes. Default 64 MiB. */
  maxUnpackedPackageBytes?: number;
  /**
   * Failed authentications allowed per window before 429: `max` per address
   * and presented secret (default 30 a minute), `maxPerAddress` per address
   * whatever the secrets (default 10 × max). Data API keys count too.
   */
  failedAuthLimits?: FailedAuthLimits;
  /** Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client (FUSION_TRUSTED_PROXIES). Default none. */
  trustedProxies?: string[];
  /**
   * Pre-authentication time limits of the HTTP server, in ms: `headersMs`
   * for a request's headers (default 10 s; a connection that sends nothing
   * is closed too), `requestMs` for a whole request with its body (default
   * 120 s). Checked every `checkMs` (default 1 s).
   */
  httpTimeouts?: { headersMs?: number; requestMs?: number; checkMs?: number };
  /** Connections from one address that may wait for their `hello` at once (default 64); more get 429 at the upgrade. */
  maxPendingPerAddress?: number;
  /** Connections from all addresses that may wait for their `hello` to be answered at once (FUSION_MAX_PENDING_TOTAL, default 1024); more get 429 at the upgrade. */
  maxPendingTotal?: number;
  /** Frames an agent may send per second (sustained) and in a burst before it is closed with `rate_limited`. Default 100 / 1000. */
  agentMessageRate?: { perSecond: number; burst: number };
  /**
   * An existing fusion.db that is empty or not Fusion's is moved aside and a
   * new database created (fusion --init-database); without it Fusion refuses to start on it.
   */
  initDatabase?: boolean;
  /**
   * `postgres://user@host:5432/db[?schema=name]` (FUSION_DATABASE_URL, --database): keep Fusion's
   * state in PostgreSQL instead of the home's fusion.db. See docs/operations.md, "PostgreSQL".
   */
  databaseUrl?: string;
  /** PostgreSQL: connections this Fusion's pool may open (FUSION_DATABASE_POOL). Default 10. */
  databaseConnections?: number;
  /** SQLite: when commits are fsynced: `normal` (default; survives a killed process) or `full` (also a power loss). See docs/operations.md. */
  databaseSync?: DbSync;
  /** Lifetime, rotation and grace of agent credentials (defaults 30 days, a third of it, 10 minutes), and how often connected agents are checked (default 1 minute). */
  credentials?: Partial<CredentialPolicy> & { checkIntervalMs?: number };
  /** Every new agent waits for an admin's approval before it is enrolled (FUSION_ENROLLMENT_APPROVAL=1). Default false. */
  enrollmentApproval?: boolean;
  /** How long an agent waiting for approval is told to wait before asking again. Default 30 s. */
  enrollmentRetryMs?: number;
  /** An agent offline longer than this shows as `inactive` (FUSION_AGENT_INACTIVE_AFTER_SECONDS). Default 7 days. */
  agentInactiveAfterMs?: number;
  /** How long an agent may run a config other than its desired one before it shows drift. Default 60 s. */
  driftGraceMs?: number;
  /** How long history is kept (commands, audit, config revisions); see RetentionSettings. */
  retention?: Partial<RetentionSettings>;
  /** How often the retention sweep runs. Default hourly. */
  retentionSweepIntervalMs?: number;
  /** Webhook delivery: attempts, backoff, timeout, concurrency (tests shorten them). */
  webhooks?: DispatcherOptions;
  /** This replica's id among the replicas of one PostgreSQL (FUSION_REPLICA_ID). Default a random one. */
  replicaId?: string;
  /**
   * The URL the other replicas reach this one at (FUSION_ADVERTISE_URL), for the
   * data-plane requests they forward to it. Default the URL Fusion listens on.
   */
  advertiseUrl?: string;
  /** Replicas: the address shown for this replica (FUSION_REPLICA_URL). Default the one it listens on. */
  replicaUrl?: string;
  /** Replicas: how often this replica writes its heartbeat (FUSION_REPLICA_HEARTBEAT_MS). Default 5 s; silent two intervals is dead. */
  replicaHeartbeatMs?: number;
  /** Replicas: how often a replica that does not hold a lease tries to take it. Default 1 s. */
  leaseRetryMs?: number;
  logger?: Logger;
}
