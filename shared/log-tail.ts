/**
 * The last lines a process logged, kept in memory for diagnostics bundles:
 * a ring of at most `maxLines`, each cut to `maxLineBytes`. A pino
 * destination (it has `write`), so it sits beside stdout in a multistream.
 */
export class LogTail {
  private readonly ring: string[] = [];
  private next = 0;

  constructor(
    private readonly maxLines = 1000,
    private readonly maxLineBytes = 2048,
  ) {}

  write(chunk: string): void {
    for (const raw of chunk.split('\n')) {
      if (!raw) continue;
      const line = raw.length > this.maxLineBytes ? `${raw.slice(0, this.maxLineBytes)}…` : raw;
      if (this.ring.length < this.maxLines) this.ring.push(line);
      else this.ring[this.next] = line;
      this.next = (this.next + 1) % this.maxLines;
    }
  }

  /** The newest `count` lines, oldest first. */
  lines(count = this.maxLines): string[] {
    const ordered = this.ring.length < this.maxLines ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return count <= 0 ? [] : ordered.slice(-count);
  }
}
