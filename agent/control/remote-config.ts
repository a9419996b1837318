/**
 * Applying a config document that came from Fusion, whichever transport
 * brought it: validate it for this agent, check it is the document Fusion
 * signed (its secret references, not their values, are signed), apply it
 * with the secret values that came with it, and report each step (`applying`, then `applied` or
 * `failed`). A refused config leaves the previous one running.
 */
import { configSignature, formatIssues, validateConfig } from '../../shared/config/index.js';
import type { ConfigStatusFrame } from '../../shared/protocol/index.js';
import type { ConfigApplier } from '../config/config-applier.js';
import type { ReceivedSecrets } from '../config/secret-resolution.js';

/** Longest error text sent in a `config_status` frame (the schema's limit). */
const MAX_ERROR_CHARS = 16_384;

export interface RemoteTarget {
  revision: number;
  signature: string;
  /** The document as received (or as rebuilt from a patch); validated here. */
  document: unknown;
  /** Values of the secrets the document references, as received with it. */
  secrets?: Record<string, string> | undefined;
  /** Digest of their versions (with `secrets`). */
  secretsDigest?: string | undefined;
}

/** The received secrets of a target, when it came with them. */
export function receivedSecrets(target: Pick<RemoteTarget, 'secrets' | 'secretsDigest'>): ReceivedSecrets | undefined {
  return target.secrets && target.secretsDigest ? { values: target.secrets, digest: target.secretsDigest } : undefined;
}

export interface RemoteApplyDeps {
  applier: ConfigApplier;
  agentId: string;
  /** Where status frames go (the socket); absent for polling. */
  report?: (frame: ConfigStatusFrame) => void;
}

/**
 * Validates and applies `target`. Call it inside `applier.exclusive`. Returns
 * whether the config now runs; never throws for a bad or failing config.
 */
export async function applyRemoteConfig(deps: RemoteApplyDeps, target: RemoteTarget): Promise<boolean> {
  const { applier, agentId } = deps;
  const status = (frame: Omit<ConfigStatusFrame, 'type' | 'signature' | 'revision'>): void =>
    deps.report?.({ type: 'config_status', signature: target.signature, revision: target.revision, ...frame });
  const refuse = (error: string): false => {
    applier.fail({ signature: target.signature, revision: target.revision, source: 'remote', error });
    status({ status: 'failed', error: truncate(error) });
    return false;
  };

  const checked = validateConfig(target.document, { agentId });
  if (!checked.ok) return refuse(`invalid config: ${formatIssues(checked.errors)}`);
  const actual = configSignature(checked.config);
  if (actual !== target.signature) {
    return refuse(`the normalised document has signature ${actual}, not the announced ${target.signature}`);
  }

  status({ status: 'applying' });
  try {
    const change = await applier.applyExclusive(checked.config, { source: 'remote', revision: target.revision, secrets: receivedSecrets(target) });
    status({ status: 'applied', pipes: change });
    return true;
  } catch (err) {
    // applyExclusive has already reported the failure; only the NACK is left.
    status({ status: 'failed', error: truncate(err instanceof Error ? err.message : String(err)) });
    return false;
  }
}

function truncate(text: string): string {
  return text.length <= MAX_ERROR_CHARS ? text : `${text.slice(0, MAX_ERROR_CHARS - 3)}...`;
}
