import { canonicalJson } from '../../shared/config/index.js';
import type { FusionConfig } from '../dataplane/index.js';
import type { FusionConfigChanges, SectionChanges } from '../events/event-types.js';

/**
 * What applying `next` over `previous` changes, per section of fusion.yaml:
 * ids added, removed, and changed (any setting differs once defaults are
 * filled in, so a reformatted file is no change).
 */
export function diffFusionConfig(previous: FusionConfig, next: FusionConfig): FusionConfigChanges {
  return {
    receivers: diffSection(previous.receivers, next.receivers),
    views: diffSection(previous.views, next.views),
    pipes: diffSection(previous.pipes, next.pipes),
  };
}

/** True when nothing was added, removed or changed. */
export function isNoChange(changes: FusionConfigChanges): boolean {
  return Object.values(changes).every((s: SectionChanges) => !s.added.length && !s.removed.length && !s.changed.length);
}

function diffSection(previous: Record<string, unknown>, next: Record<string, unknown>): SectionChanges {
  const changes: SectionChanges = { added: [], removed: [], changed: [] };
  for (const id of Object.keys(previous)) if (!Object.hasOwn(next, id)) changes.removed.push(id);
  for (const [id, value] of Object.entries(next)) {
    if (!Object.hasOwn(previous, id)) changes.added.push(id);
    else if (canonicalJson(previous[id]) !== canonicalJson(value)) changes.changed.push(id);
  }
  return changes;
}
