import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { writeFileAtomic } from '../../shared/atomic-write.js';

/** What the agent remembers of one command id. */
export interface JournalEntry {
  /** `started`: it began running (if the agent dies now, it is not run again). */
  state: 'started' | 'succeeded' | 'failed' | 'cancelled';
  output?: unknown;
  error?: string;
  at: number;
}

/** How many command ids the journal keeps; the oldest are forgotten first. */
export const JOURNAL_LIMIT = 1000;

/**
 * The agent's on-disk memory of command ids, so a command delivered again
 * (after a reconnect or a Fusion crash) is never run twice: a finished one gets
 * its stored result again, one that was running when the agent died is
 * reported failed instead of being re-run. Each change is written atomically.
 */
export class CommandJournal {
  private entries = new Map<string, JournalEntry>();
  private writing: Promise<void> = Promise.resolve();
  readonly file: string;

  constructor(home: string, private readonly logger: Logger, private readonly limit = JOURNAL_LIMIT) {
    this.file = path.join(home, 'agent-state', 'commands.json');
  }

  async load(): Promise<void> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as { entries?: Array<[string, JournalEntry]> };
      this.entries = new Map(Array.isArray(parsed.entries) ? parsed.entries : []);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn({ file: this.file, err: (err as Error).message }, 'command journal unreadable; starting with an empty one');
      }
      this.entries = new Map();
    }
  }

  get(id: string): JournalEntry | undefined {
    return this.entries.get(id);
  }

  /** Records a state and resolves once it is on disk. */
  async record(id: string, entry: Omit<JournalEntry, 'at'>): Promise<void> {
    this.entries.delete(id);
    this.entries.set(id, { ...entry, at: Date.now() });
    while (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value as string);
    const content = JSON.stringify({ entries: [...this.entries] });
    // Writes are chained so they land in order; each one carries the whole journal.
    this.writing = this.writing.then(() => writeFileAtomic(this.file, content)).catch((err: unknown) => {
      this.logger.error({ err: (err as Error).message }, 'cannot write the command journal');
    });
    await this.writing;
  }

  get size(): number {
    return this.entries.size;
  }
}
