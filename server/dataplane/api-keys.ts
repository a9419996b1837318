import { createHash, timingSafeEqual } from 'node:crypto';
import type { FusionConfig } from './fusion-config.js';

/** Header that carries a receiver or view API key. */
export const API_KEY_HEADER = 'x-api-key';

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * A set of API keys, each with what it grants. Only sha256 digests are kept,
 * and a lookup compares the presented key's digest with every entry in
 * constant time, without stopping at the first match, so neither the answer
 * time nor a memory dump gives a key away.
 */
export class KeyRing<T> {
  private readonly entries: { digest: Buffer; grant: T }[] = [];

  constructor(keys: Iterable<readonly [key: string, grant: T]> = []) {
    for (const [key, grant] of keys) this.entries.push({ digest: digest(key), grant });
  }

  get size(): number {
    return this.entries.length;
  }

  /** What `presented` grants, or undefined for a missing or unknown key. */
  match(presented: string | undefined): T | undefined {
    if (!presented) return undefined;
    const candidate = digest(presented);
    let found: T | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate) && found === undefined) found = entry.grant;
    }
    return found;
  }
}

/** What a receiver key opens: sessions of one Fusion pipe. */
export interface IngestGrant {
  receiverId: string;
  pipeId: string;
}

/** Every key check of the data plane, compiled from one fusion config and swapped whole on reload. */
export interface DataPlaneAccess {
  ingest: KeyRing<IngestGrant>;
  /** Per view: its own keys plus the keys of receivers whose pipes feed it. */
  views: Map<string, KeyRing<true>>;
}

export function compileAccess(config: FusionConfig): DataPlaneAccess {
  const ingestKeys: [string, IngestGrant][] = [];
  const viewKeys = new Map<string, [string, true][]>();
  for (const [viewId, view] of Object.entries(config.views)) {
    viewKeys.set(viewId, (view.api_keys ?? []).map((key) => [key, true]));
  }
  for (const [receiverId, receiver] of Object.entries(config.receivers)) {
    for (const { key, pipe_id: pipeId } of receiver.api_keys) {
      ingestKeys.push([key, { receiverId, pipeId }]);
      const pipe = Object.hasOwn(config.pipes, pipeId) ? config.pipes[pipeId] : undefined;
      for (const viewId of pipe?.views ?? []) viewKeys.get(viewId)?.push([key, true]);
    }
  }
  const views = new Map<string, KeyRing<true>>();
  for (const [viewId, keys] of viewKeys) views.set(viewId, new KeyRing(keys));
  return { ingest: new KeyRing(ingestKeys), views };
}
