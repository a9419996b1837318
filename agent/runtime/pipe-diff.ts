import { canonicalJson, type AgentConfig } from '../../shared/config/index.js';
import type { PipeChange, ResolvedPipe } from './types.js';

/** The pipe-level difference between two configs, with the specs of every pipe that runs after it. */
export interface PipeDiff extends PipeChange {
  /** Pipes that run on untouched. */
  unchanged: string[];
  /** Every active pipe of the next config, by id. */
  specs: Map<string, ResolvedPipe>;
}

/**
 * The active pipes of a config with their source and sender. A pipe that is
 * disabled, or whose source or sender is disabled, is not active. Throws when
 * an active pipe names a source or sender the document does not have (a
 * validated config never does).
 */
export function resolvePipes(config: AgentConfig | null): Map<string, ResolvedPipe> {
  const resolved = new Map<string, ResolvedPipe>();
  if (!config) return resolved;
  for (const id of Object.keys(config.pipes ?? {}).sort()) {
    const pipe = config.pipes[id]!;
    if (pipe.disabled) continue;
    const source = config.sources?.[pipe.source];
    const sender = config.senders?.[pipe.sender];
    if (!source) throw new Error(`pipe "${id}" names unknown source "${pipe.source}"`);
    if (!sender) throw new Error(`pipe "${id}" names unknown sender "${pipe.sender}"`);
    if (source.disabled || sender.disabled) continue;
    resolved.set(id, { id, pipe, sourceId: pipe.source, source, senderId: pipe.sender, sender });
  }
  return resolved;
}

/** True when two specs would run differently: the pipe's own settings, its source or its sender differ. */
export function pipeChanged(previous: ResolvedPipe, next: ResolvedPipe): boolean {
  return (
    canonicalJson(previous.pipe) !== canonicalJson(next.pipe) ||
    canonicalJson(previous.source) !== canonicalJson(next.source) ||
    canonicalJson(previous.sender) !== canonicalJson(next.sender)
  );
}

/**
 * Compares the pipes of two configs. Pure: ids come back sorted, and `specs`
 * holds the next config's active pipes. A pipe absent from, or inactive in,
 * `previous` is added; one inactive or absent in `next` is removed; one whose
 * settings, source or sender differ (by canonical JSON) is restarted.
 */
export function diffPipes(previous: AgentConfig | null, next: AgentConfig): PipeDiff {
  return diffSpecs(resolvePipes(previous), resolvePipes(next));
}

/** The same comparison over resolved pipes (the runtime diffs what actually runs against the next config). */
export function diffSpecs(before: ReadonlyMap<string, ResolvedPipe>, specs: Map<string, ResolvedPipe>): PipeDiff {
  const diff: PipeDiff = { added: [], removed: [], restarted: [], unchanged: [], specs };
  for (const id of [...specs.keys()].sort()) {
    const old = before.get(id);
    if (!old) diff.added.push(id);
    else if (pipeChanged(old, specs.get(id)!)) diff.restarted.push(id);
    else diff.unchanged.push(id);
  }
  for (const id of before.keys()) {
    if (!specs.has(id)) diff.removed.push(id);
  }
  diff.removed.sort();
  return diff;
}
