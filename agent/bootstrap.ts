/**
 * The agent's bootstrap options: who it is and where its control plane is.
 * Read from `$FUSTOR_HOME/bootstrap.yaml`, overridden by command-line flags;
 * validated with one schema so every problem is reported at once.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { Attributes } from '../shared/selector/labels.js';
import { parseDocumentText } from '../shared/config/index.js';
import { AgentId } from '../shared/protocol/index.js';
import { readTlsFiles, type TlsMaterial } from './control/tls-files.js';
import { verifyingKey } from '../shared/package/package-signature.js';

/** Name of the bootstrap file inside the agent's home directory. */
export const BOOTSTRAP_FILE = 'bootstrap.yaml';

/** Most control plane URLs one agent may list. */
export const MAX_CONTROL_PLANE_URIS = 16;

/** One control plane URL. */
const ControlPlaneUri = z.string().max(2048).refine(isControlPlaneUri, 'expected an http://, https://, ws:// or wss:// URL');

/** The bootstrap document as written in bootstrap.yaml (snake_case keys). */
export const BootstrapDocument = z
  .object({
    /** The agent's id; must match what Fusion knows it as. */
    agent_id: AgentId,
    /**
     * Fusion's base URL (http, https, ws or wss), or a list of them (replicas
     * of one Fusion, tried in a random order); absent means local config only.
     */
    control_plane_uri: z.union([ControlPlaneUri, z.array(ControlPlaneUri)]).optional(),
    /** Bearer token for the control channel; required with control_plane_uri. */
    auth_token: z.string().min(1).max(4096).optional(),
    /** `websocket` keeps a socket open; `poll` asks the pull endpoint periodically. */
    transport: z.enum(['websocket', 'poll']).default('websocket'),
    /** Seconds between polls (poll transport). */
    poll_interval_sec: z.number().positive().max(86_400).default(30),
    /** Reconnect backoff, in milliseconds. */
    backoff: z
      .object({
        base_ms: z.number().int().positive().max(3_600_000).default(500),
        cap_ms: z.number().int().positive().max(3_600_000).default(30_000),
        /** A connection up this long resets the backoff to its first step. */
        stable_after_ms: z.number().int().nonnegative().max(3_600_000).default(10_000),
      })
      .strict()
      .prefault({}),
    /** How long start-up waits for the control plane before using cached or local config. */
    connect_timeout_ms: z.number().int().positive().max(600_000).default(5_000),
    /** Host name reported to Fusion; defaults to the OS host name. */
    hostname: z.string().min(1).max(255).optional(),
    /** Operator-defined group label of this agent. */
    group: z.string().min(1).max(128).optional(),
    /** Custom attributes the agent reports in `hello` (e.g. `rack: r12`); shown and searchable, never trusted for targeting. */
    attributes: Attributes.optional(),
    /** PEM file of the CA(s) Fusion's certificate must chain to (https/wss control plane and https sender uris); default: the system CAs. */
    ca: z.string().min(1).max(4096).optional(),
    /** PEM file of the client certificate presented to Fusion (mutual TLS, control and data plane); needs `key`. */
    cert: z.string().min(1).max(4096).optional(),
    /** PEM file of the client certificate's private key (unencrypted); needs `cert`. */
    key: z.string().min(1).max(4096).optional(),
    /**
     * Ed25519 public key that signs agent packages: a PEM file (relative to the
     * home) or the PEM itself. With it the agent installs only packages whose
     * signature verifies; without it, the sha256 check alone.
     */
    package_public_key: z.string().min(1).max(8192).optional(),
  })
  .strict()
  .superRefine((doc, ctx) => {
    if (doc.control_plane_uri !== undefined && doc.auth_token === undefined) {
      ctx.addIssue({ code: 'custom', path: ['auth_token'], message: 'required when control_plane_uri is set' });
    }
    if (doc.backoff.cap_ms < doc.backoff.base_ms) {
      ctx.addIssue({ code: 'custom', path: ['backoff', 'cap_ms'], message: 'must be at least backoff.base_ms' });
    }
    if ((doc.cert === undefined) !== (doc.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: [doc.cert === undefined ? 'cert' : 'key'], message: 'cert and key go together (mutual TLS needs both)' });
    }
    const uris = doc.control_plane_uri === undefined ? [] : typeof doc.control_plane_uri === 'string' ? [doc.control_plane_uri] : doc.control_plane_uri;
    // Counted here, not on the array: inside a union zod reports a failed length check only as "Invalid input".
    if (Array.isArray(doc.control_plane_uri) && doc.control_plane_uri.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['control_plane_uri'], message: 'expected at least one URL' });
    }
    if (uris.length > MAX_CONTROL_PLANE_URIS) {
      ctx.addIssue({ code: 'custom', path: ['control_plane_uri'], message: `at most ${MAX_CONTROL_PLANE_URIS} URLs (got ${uris.length})` });
      return;
    }
    const seen = new Map<string, number>();
    uris.forEach((uri, index) => {
      const key = normalUri(uri);
      if (key === undefined) return;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, index);
      else ctx.addIssue({ code: 'custom', path: ['control_plane_uri', index], message: `duplicate of control_plane_uri[${first}]` });
    });
    const tlsKey = (['ca', 'cert', 'key'] as const).find((k) => doc[k] !== undefined);
    const plain = uris.findIndex((uri) => !/^(https|wss):/i.test(uri));
    if (tlsKey !== undefined && plain >= 0) {
      const which = typeof doc.control_plane_uri === 'string' ? '' : ` (control_plane_uri[${plain}] is not)`;
      ctx.addIssue({ code: 'custom', path: [tlsKey], message: `needs an https:// or wss:// control_plane_uri${which}` });
    }
  });
export type BootstrapDocument = z.infer<typeof BootstrapDocument>;

/** Resolved bootstrap options, as the agent uses them. */
export interface BootstrapOptions {
  /** The agent's home directory ($FUSTOR_HOME). */
  home: string;
  agentId: string;
  /**
   * The first control plane URL as configured, for callers that only ask
   * whether there is a control plane. The one in use changes as the agent
   * fails over: see `Agent.controlPlaneUri` (agent/control/control-plane-targets.ts).
   */
  controlPlaneUri?: string;
  /** Every control plane URL, as configured (1 to {@link MAX_CONTROL_PLANE_URIS}); set together with controlPlaneUri. */
  controlPlaneUris?: string[];
  /** Secret: never log it (see {@link describeBootstrap}). */
  authToken?: string;
  transport: 'websocket' | 'poll';
  pollIntervalSec: number;
  backoff: { baseMs: number; capMs: number; stableAfterMs: number };
  connectTimeoutMs: number;
  hostname?: string;
  group?: string;
  attributes?: Record<string, string>;
  /** Absolute paths of the TLS files (`ca`, `cert`, `key`), as configured. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Contents of those files, read and checked when the options were resolved. Holds a private key: never log it. */
  tls?: TlsMaterial;
  /** The pinned package signing key, as PEM (input: a file path or the PEM); checked to be Ed25519 when resolved. */
  packagePublicKey?: string;
}

/**
 * Bootstrap options as a program passes them: home and agent id, the rest
 * defaulted (TLS files are read from their paths). `controlPlaneUri` may be one
 * URL or a list; `controlPlaneUris`, when given, wins over it (so a resolved
 * BootstrapOptions passes through unchanged).
 */
export type BootstrapInput = Pick<BootstrapOptions, 'home' | 'agentId'> &
  Partial<Omit<BootstrapOptions, 'home' | 'agentId' | 'backoff' | 'tls' | 'controlPlaneUri' | 'controlPlaneUris'>> & {
    backoff?: Partial<BootstrapOptions['backoff']>;
    controlPlaneUri?: string | readonly string[];
    controlPlaneUris?: readonly string[];
  };

/** Overrides from the command line, in bootstrap.yaml's shape. */
export type BootstrapOverrides = Partial<Omit<z.input<typeof BootstrapDocument>, 'backoff'>> & {
  backoff?: Partial<NonNullable<z.input<typeof BootstrapDocument>['backoff']>>;
};

/** Invalid or unreadable bootstrap options; `issues` lists every problem, one line each. */
export class BootstrapError extends Error {
  readonly code = 'bootstrap_invalid';
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(issues.length ? `${message}:\n  - ${issues.join('\n  - ')}` : message);
    this.name = 'BootstrapError';
  }
}

/** `--home`, else `$FUSTOR_HOME`, else `~/.fustor`; always absolute. */
export function resolveHome(flagHome: string | undefined, env: NodeJS.ProcessEnv): string {
  const chosen = flagHome ?? (env.FUSTOR_HOME ? env.FUSTOR_HOME : path.join(os.homedir(), '.fustor'));
  return path.resolve(chosen.startsWith('~/') ? path.join(os.homedir(), chosen.slice(2)) : chosen);
}

/**
 * Reads `<home>/bootstrap.yaml` (a missing file is an empty one), applies the
 * overrides and validates. Throws {@link BootstrapError} naming every problem.
 */
export async function loadBootstrap(home: string, overrides: BootstrapOverrides = {}): Promise<BootstrapOptions> {
  const file = path.join(home, BOOTSTRAP_FILE);
  const fromFile = await readBootstrapFile(file);
  const { backoff: backoffOverrides, ...rest } = overrides;
  const merged: Record<string, unknown> = { ...fromFile, ...dropUndefined(rest) };
  const backoff = dropUndefined(backoffOverrides ?? {});
  if (Object.keys(backoff).length > 0) {
    // A malformed backoff in the file is left as is, so the schema reports it.
    if (fromFile.backoff === undefined) merged.backoff = backoff;
    else if (isPlainObject(fromFile.backoff)) merged.backoff = { ...fromFile.backoff, ...backoff };
  }
  return validateBootstrap(home, merged, `invalid bootstrap options (${file} and command-line flags)`);
}

/** Validates options a program passes (e.g. the Agent constructor) and fills defaults. */
export function resolveBootstrapOptions(input: BootstrapInput): BootstrapOptions {
  const doc = dropUndefined({
    agent_id: input.agentId,
    control_plane_uri: input.controlPlaneUris ?? input.controlPlaneUri,
    auth_token: input.authToken,
    transport: input.transport,
    poll_interval_sec: input.pollIntervalSec,
    backoff:
      input.backoff &&
      dropUndefined({ base_ms: input.backoff.baseMs, cap_ms: input.backoff.capMs, stable_after_ms: input.backoff.stableAfterMs }),
    connect_timeout_ms: input.connectTimeoutMs,
    hostname: input.hostname,
    group: input.group,
    attributes: input.attributes,
    ca: input.caFile,
    cert: input.certFile,
    key: input.keyFile,
    package_public_key: input.packagePublicKey,
  });
  if (typeof input.home !== 'string' || input.home.length === 0) throw new BootstrapError('invalid agent options', ['home: required']);
  return validateBootstrap(path.resolve(input.home), doc, 'invalid agent options');
}

/** The options without secrets (token, TLS contents), for logs. */
export function describeBootstrap(options: BootstrapOptions): Record<string, unknown> {
  const { authToken, tls: _tls, ...rest } = options;
  return { ...rest, authToken: authToken === undefined ? undefined : '[redacted]' };
}

function validateBootstrap(home: string, doc: unknown, context: string): BootstrapOptions {
  const parsed = BootstrapDocument.safeParse(doc);
  if (!parsed.success) {
    throw new BootstrapError(
      context,
      parsed.error.issues.map((i) => {
        const where = i.path.length ? formatPath(i.path) : '(root)';
        return `${where}: ${i.message}${hintFor(where)}`;
      }),
    );
  }
  const d = parsed.data;
  const uris = d.control_plane_uri === undefined ? undefined : typeof d.control_plane_uri === 'string' ? [d.control_plane_uri] : [...d.control_plane_uri];
  // Relative TLS paths are relative to the home (command-line flags arrive already absolute).
  const files = dropUndefined({ ca: d.ca, cert: d.cert, key: d.key });
  for (const name of ['ca', 'cert', 'key'] as const) if (files[name] !== undefined) files[name] = path.resolve(home, files[name]);
  let tls: TlsMaterial | undefined;
  if (Object.keys(files).length > 0) {
    const read = readTlsFiles(files);
    if (read.material === undefined) throw new BootstrapError('cannot use the TLS files (ca, cert, key)', read.issues);
    tls = read.material;
  }
  return {
    home,
    agentId: d.agent_id,
    ...(uris !== undefined && { controlPlaneUri: uris[0], controlPlaneUris: uris }),
    ...(d.auth_token !== undefined && { authToken: d.auth_token }),
    transport: d.transport,
    pollIntervalSec: d.poll_interval_sec,
    backoff: { baseMs: d.backoff.base_ms, capMs: d.backoff.cap_ms, stableAfterMs: d.backoff.stable_after_ms },
    connectTimeoutMs: d.connect_timeout_ms,
    ...(d.hostname !== undefined && { hostname: d.hostname }),
    ...(d.group !== undefined && { group: d.group }),
    ...(d.attributes !== undefined && { attributes: d.attributes }),
    ...(files.ca !== undefined && { caFile: files.ca }),
    ...(files.cert !== undefined && { certFile: files.cert }),
    ...(files.key !== undefined && { keyFile: files.key }),
    ...(tls !== undefined && { tls }),
    ...(d.package_public_key !== undefined && { packagePublicKey: readPackageKey(home, d.package_public_key) }),
  };
}

/** The pinned package key's PEM, from the PEM itself or a file (relative to the home); a BootstrapError unless it is an Ed25519 public key. */
function readPackageKey(home: string, value: string): string {
  const inline = value.trimStart().startsWith('-----BEGIN');
  let pem = value;
  if (!inline) {
    try {
      pem = readFileSync(path.resolve(home, value), 'utf8');
    } catch (err) {
      throw new BootstrapError('cannot use package_public_key', [(err as Error).message]);
    }
  }
  try {
    verifyingKey(pem);
  } catch (err) {
    throw new BootstrapError('cannot use package_public_key', [(err as Error).message]);
  }
  return pem;
}

async function readBootstrapFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BootstrapError(`cannot read ${file}`, [(err as Error).message]);
  }
  const parsed = parseDocumentText(text, 'yaml');
  if (!parsed.ok) throw new BootstrapError(`cannot parse ${file}`, parsed.errors.map((e) => e.message));
  if (parsed.value === null || parsed.value === undefined) return {};
  if (!isPlainObject(parsed.value)) throw new BootstrapError(`cannot use ${file}`, ['(root): expected a mapping of options']);
  return parsed.value;
}

/** An issue's path as written in the YAML: `backoff.cap_ms`, `control_plane_uri[2]`. */
function formatPath(segments: readonly PropertyKey[]): string {
  return segments.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i > 0 ? '.' : ''}${String(s)}`)).join('');
}

function hintFor(where: string): string {
  if (where === 'agent_id') return ' (set agent_id in bootstrap.yaml or pass --agent-id)';
  if (where === 'auth_token') return ' (set auth_token in bootstrap.yaml or pass --auth-token)';
  return '';
}

function isControlPlaneUri(value: string): boolean {
  try {
    const url = new URL(value);
    return ['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol) && url.hostname.length > 0;
  } catch {
    return false;
  }
}

/** The URL as the WHATWG parser writes it (lower-case host, default port dropped), so spelling variants count as duplicates. */
function normalUri(value: string): string | undefined {
  try {
    return new URL(value).href;
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
