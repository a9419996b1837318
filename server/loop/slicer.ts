/**
 * Long loops over a fleet (rendering 10,000 members, announcing 10,000
 * configs) give the event loop a turn every `sliceMs` of work, so sockets,
 * `/healthz` and other requests are served meanwhile: `await slicer.turn()`
 * once per item costs a resolved promise until the slice is used up, then one
 * setImmediate.
 */
export class Slicer {
  private started = performance.now();
  private items = 0;

  constructor(
    private readonly sliceMs = 10,
    /** Items between two looks at the clock. */
    private readonly checkEvery = 16,
  ) {}

  async turn(): Promise<void> {
    if (++this.items % this.checkEvery !== 0 || performance.now() - this.started < this.sliceMs) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.started = performance.now();
  }
}
