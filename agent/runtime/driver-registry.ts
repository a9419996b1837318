import { createFsSourceFactory, type FsSourceOptions } from '../drivers/fs-source.js';
import { createFusionSenderFactory, type FusionSenderOptions } from '../drivers/fusion-sender.js';
import type { Sender, SenderFactory, Source, SourceFactory } from './driver-types.js';
import type { PipeContext } from './types.js';

/**
 * Maps the driver names a config uses (`sources.*.driver`, `senders.*.driver`)
 * to factories. A pipe instance gets a fresh source and sender from here.
 */
export class DriverRegistry {
  private readonly sources = new Map<string, SourceFactory>();
  private readonly senders = new Map<string, SenderFactory>();

  registerSource(name: string, factory: SourceFactory): this {
    this.sources.set(name, factory);
    return this;
  }

  registerSender(name: string, factory: SenderFactory): this {
    this.senders.set(name, factory);
    return this;
  }

  /** Builds the source the pipe names; throws for an unknown driver or a source config it cannot use. */
  createSource(ctx: PipeContext): Source {
    const driver = ctx.spec.source.driver;
    const factory = this.sources.get(driver);
    if (!factory) throw new Error(`unknown source driver "${driver}" (known: ${this.sourceDrivers().join(', ') || 'none'})`);
    return factory(ctx);
  }

  /** Builds the sender the pipe names; throws for an unknown driver or a sender config it cannot use. */
  createSender(ctx: PipeContext): Sender {
    const driver = ctx.spec.sender.driver;
    const factory = this.senders.get(driver);
    if (!factory) throw new Error(`unknown sender driver "${driver}" (known: ${this.senderDrivers().join(', ') || 'none'})`);
    return factory(ctx);
  }

  sourceDrivers(): string[] {
    return [...this.sources.keys()].sort();
  }

  senderDrivers(): string[] {
    return [...this.senders.keys()].sort();
  }
}

export interface DefaultDriverOptions {
  fs?: FsSourceOptions;
  fusion?: FusionSenderOptions;
}

/** The drivers an agent ships with: source `fs`, sender `fusion`. */
export function defaultDriverRegistry(options: DefaultDriverOptions = {}): DriverRegistry {
  return new DriverRegistry()
    .registerSource('fs', createFsSourceFactory(options.fs))
    .registerSender('fusion', createFusionSenderFactory(options.fusion));
}
