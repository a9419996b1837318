import type { Logger } from '../../shared/logger.js';
import type { Sql } from './sql.js';

/** How long Fusion keeps history. Zero keeps it forever. */
export interface RetentionSettings {
  /** Finished commands (succeeded, failed, expired, cancelled), their transitions and diagnostics bundles, in days after they ended. Default 90. */
  commandsDays: number;
  /** Audit log entries, in days. Default 365. */
  auditDays: number;
  /** Agent config revisions older than this many days are removed, except each agent's newest `revisionsKeep`. Default 180. */
  revisionsDays: number;
  /** Newest config revisions kept per agent whatever their age (the latest always is). Default 20. */
  revisionsKeep: number;
}

export const DEFAULT_RETENTION: RetentionSettings = { commandsDays: 90, auditDays: 365, revisionsDays: 180, revisionsKeep: 20 };

/** Rows one statement deletes before the sweep yields, so a large backlog never holds the event loop or a write lock for long. */
const BATCH = 2000;
const DAY_MS = 86_400_000;
const FINISHED = "('succeeded', 'failed', 'expired', 'cancelled')";

export interface SweepResult {
  commands: number;
  audit: number;
  revisions: number;
}

/**
 * Applies the retention settings: a sweep at start and then periodically
 * (default hourly), in batches with a yield of the event loop between them.
 */
export class RetentionSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepResult> | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly settings: RetentionSettings,
    private readonly log: Logger,
  ) {}

  start(intervalMs = 3_600_000): void {
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  stop(): Promise<unknown> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.running ?? Promise.resolve();
  }

  /** One sweep (a sweep already under way is shared). */
  sweep(now = Date.now()): Promise<SweepResult> {
    this.running ??= this.run(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(now: number): Promise<SweepResult> {
    const s = this.settings;
    const result: SweepResult = { commands: 0, audit: 0, revisions: 0 };
    try {
      if (s.commandsDays > 0) {
        const before = now - s.commandsDays * DAY_MS;
        result.commands = await this.inBatches(() =>
          this.sql.transaction(async () => {
            const ids = (await this.sql.all<{ id: string }>(`SELECT id FROM commands WHERE status IN ${FINISHED} AND COALESCE(finished_at, created_at) < ? LIMIT ?`, [before, BATCH])).map((r) => r.id);
            if (ids.length === 0) return 0;
            // One statement per table for the whole batch, not one per command.
            const list = ids.map(() => '?').join(', ');
            await this.sql.run(`DELETE FROM command_transitions WHERE command_id IN (${list})`, ids);
            await this.sql.run(`DELETE FROM diagnostics_bundles WHERE command_id IN (${list})`, ids);
            await this.sql.run(`DELETE FROM commands WHERE id IN (${list})`, ids);
            return ids.length;
          }),
        );
      }
      if (s.auditDays > 0) {
        const before = now - s.auditDays * DAY_MS;
        result.audit = await this.inBatches(
          async () => (await this.sql.run('DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?)', [before, BATCH])).changes,
        );
      }
      if (s.revisionsDays > 0) {
        const before = now - s.revisionsDays * DAY_MS;
        const keep = Math.max(1, s.revisionsKeep);
        result.revisions = await this.inBatches(
          async () =>
            (
              await this.sql.run(
                `DELETE FROM agent_config_revisions WHERE (agent_id, revision) IN (
                   SELECT r.agent_id, r.revision FROM agent_config_revisions r
                   WHERE r.created_at < ?
                     AND r.revision <= (SELECT MAX(revision) FROM agent_config_revisions m WHERE m.agent_id = r.agent_id) - ?
                   LIMIT ?)`,
                [before, keep, BATCH],
              )
            ).changes,
        );
      }
      if (result.commands || result.audit || result.revisions) this.log.info({ removed: result }, 'retention sweep removed old history');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'retention sweep failed; it runs again at the next interval');
    }
    return result;
  }

  /** Repeats `step` (which deletes at most BATCH rows) until it deletes fewer, yielding between steps. */
  private async inBatches(step: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await step();
      total += n;
      if (n < BATCH) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
