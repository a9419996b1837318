import { readSse, type SseMessage } from '../../cli/sse.js';

/** A parsed event of the management stream. */
export interface StreamEvent {
  event: string;
  id: string | undefined;
  data: any;
}

/**
 * A test client of `GET /api/v1/management/events`: collects every event and
 * lets a test wait for the next one that matches, without fixed sleeps.
 */
export class TestEventStream {
  readonly events: StreamEvent[] = [];
  ended = false;
  private cursor = 0;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly response: Response,
    private readonly abort: AbortController,
  ) {}

  /** Opens the stream and resolves once its `ready` event arrived. */
  static async open(url: string, init: { headers?: Record<string, string>; query?: string } = {}): Promise<TestEventStream> {
    const abort = new AbortController();
    const response = await fetch(`${url}/api/v1/management/events${init.query ? `?${init.query}` : ''}`, { headers: init.headers ?? {}, signal: abort.signal });
    if (response.status !== 200) {
      const body = await response.text();
      throw Object.assign(new Error(`event stream refused: ${response.status} ${body}`), { status: response.status, body });
    }
    const stream = new TestEventStream(response, abort);
    stream.pump(response.body!).catch(() => undefined);
    await stream.next((e) => e.event === 'ready');
    return stream;
  }

  /** The next event (not yet consumed) for which `match` holds; earlier ones are skipped. */
  async next(match: string | ((e: StreamEvent) => boolean), timeoutMs = 5000): Promise<StreamEvent> {
    const test = typeof match === 'string' ? (e: StreamEvent) => e.event === match : match;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.events.length) {
        const event = this.events[this.cursor++]!;
        if (test(event)) return event;
      }
      if (this.ended) throw new Error(`stream ended before the expected event; got ${this.events.map((e) => e.event).join(', ')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; got ${this.events.map((e) => e.event).join(', ')}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** Resolves once the server ended the stream. */
  async closed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('stream still open');
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, 50);
        this.waiters.add(wake);
      });
    }
  }

  close(): void {
    this.abort.abort();
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const message of readSse(body)) this.add(message);
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private add(message: SseMessage): void {
    let data: unknown = message.data;
    try {
      data = JSON.parse(message.data);
    } catch {
      // keep the raw text
    }
    this.events.push({ event: message.event, id: message.id, data });
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
