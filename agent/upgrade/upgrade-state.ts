/**
 * `agent/upgrade.json`: one upgrade from the moment the old version switched
 * the `current` pointer to its outcome. Three processes write it, one after
 * the other, never at once:
 *
 * - the old agent writes `switched` just before it switches the pointer and exits;
 * - the launcher writes `committed` when the new version reached Fusion in time,
 *   or `rolled_back` (with the reason) after it pointed `current` back;
 * - the agent that runs afterwards records the outcome in its command journal,
 *   reports it to Fusion and sets `reported`.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PackageVersion } from '../../shared/package/agent-package.js';
import { writeFileAtomic } from '../../shared/atomic-write.js';
import { upgradePaths } from './upgrade-paths.js';

export const UpgradeState = z.object({
  /** The `upgrade` command this upgrade answers. */
  command_id: z.string().min(1).max(64),
  /** Version that ran before (the agent's own version string). */
  from_version: z.string().min(1).max(64),
  /** Version being installed. */
  to_version: PackageVersion,
  /** What `current` pointed to before the switch: a version, or null for no pointer. */
  previous_pointer: PackageVersion.nullable(),
  phase: z.enum(['switched', 'committed', 'rolled_back']),
  /** Why the upgrade was rolled back (phase `rolled_back`). */
  reason: z.string().max(16_384).optional(),
  switched_at: z.number().int(),
  /** When the phase became `committed` or `rolled_back`. */
  finished_at: z.number().int().optional(),
  /** The outcome is in the command journal, so Fusion gets it. */
  reported: z.boolean().default(false),
});
export type UpgradeState = z.infer<typeof UpgradeState>;

/** The recorded upgrade, or null when there is none. An unreadable record is an error: nobody could tell how the last upgrade ended. */
export async function readUpgradeState(home: string): Promise<UpgradeState | null> {
  const file = upgradePaths(home).state;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = UpgradeState.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${file} is not a valid upgrade record: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export async function writeUpgradeState(home: string, state: UpgradeState): Promise<void> {
  await writeFileAtomic(upgradePaths(home).state, `${JSON.stringify(state, null, 2)}\n`);
}
