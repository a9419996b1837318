/**
 * Routes each frame from Fusion to the handler registered for its type.
 * New frame types (e.g. `command`) are added by registering a handler; a
 * frame without one, or one that fails its schema, is logged and dropped, and
 * nothing a handler throws or rejects with escapes into the socket.
 */
import type { Logger } from '../../shared/logger.js';
import { decodeFrame, FusionToAgentFrame } from '../../shared/protocol/index.js';
import type { ControlChannel } from './types.js';

export type FusionFrameType = FusionToAgentFrame['type'];
export type FusionFrameOf<T extends FusionFrameType> = Extract<FusionToAgentFrame, { type: T }>;
export type FrameHandler<T extends FusionFrameType> = (frame: FusionFrameOf<T>, channel: ControlChannel) => void | Promise<void>;

export class FrameDispatcher {
  private readonly handlers = new Map<string, (frame: FusionToAgentFrame, channel: ControlChannel) => void | Promise<void>>();

  constructor(private readonly logger: Logger) {}

  /** Registers the handler of a frame type, replacing any earlier one. */
  on<T extends FusionFrameType>(type: T, handler: FrameHandler<T>): this {
    this.handlers.set(type, handler as (frame: FusionToAgentFrame, channel: ControlChannel) => void | Promise<void>);
    return this;
  }

  /** Decodes one message and hands it to its handler. Never throws. */
  dispatch(data: string | Buffer | ArrayBuffer | Buffer[], channel: ControlChannel): void {
    const decoded = decodeFrame(FusionToAgentFrame, data);
    if (!decoded.ok) {
      const type = peekType(data);
      if (type !== undefined && !this.handlers.has(type)) {
        this.logger.warn({ type }, 'ignoring a frame of a type this agent does not handle');
      } else {
        this.logger.warn({ code: decoded.code, problem: decoded.message }, 'ignoring a malformed frame from Fusion');
      }
      return;
    }
    const frame = decoded.frame;
    const handler = this.handlers.get(frame.type);
    if (!handler) {
      this.logger.warn({ type: frame.type }, 'ignoring a frame of a type this agent does not handle');
      return;
    }
    try {
      const result = handler(frame, channel);
      if (result instanceof Promise) result.catch((err: unknown) => this.handlerFailed(frame.type, err));
    } catch (err) {
      this.handlerFailed(frame.type, err);
    }
  }

  private handlerFailed(type: string, err: unknown): void {
    this.logger.error({ type, err: err instanceof Error ? err.message : String(err) }, 'frame handler failed');
  }
}

function peekType(data: string | Buffer | ArrayBuffer | Buffer[]): string | undefined {
  try {
    const text = typeof data === 'string' ? data : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' ? (value as { type: string }).type : undefined;
  } catch {
    return undefined;
  }
}
