import { Backoff } from '../../shared/backoff.js';
import { CliError } from '../errors.js';
import { shortSignature } from '../format.js';
import { readSse } from '../sse.js';
import type { CliCommand, CommandContext } from './context.js';

/** One event of the management stream, as Fusion sends it in `data`. */
interface StreamEvent {
  id: number;
  type: string;
  at: number;
  data: Record<string, any>;
}

/** A one-line summary of an event for people; `--json` prints the event itself. */
export function summarize(event: StreamEvent): string {
  const d = event.data;
  switch (event.type) {
    case 'agent.online':
      return `${d.agent_id} online (${d.address ?? '?'}, version ${d.version || '?'}, running ${shortSignature(d.running_signature)})`;
    case 'agent.offline':
      return `${d.agent_id} offline (close code ${d.code})`;
    case 'agent.config_saved':
      return `${d.agent_id} desired config revision ${d.revision} (${shortSignature(d.signature)})`;
    case 'agent.config_status':
      return `${d.agent_id} config ${shortSignature(d.signature)} ${d.status}${d.error ? `: ${d.error}` : ''}`;
    case 'agent.config_reported':
      return `${d.agent_id} reported config ${shortSignature(d.signature)} (${d.source})`;
    case 'agent.pipes':
      return `${d.agent_id} pipes: ${(d.pipes as Array<{ id: string; state: string }>).map((p) => `${p.id}=${p.state}`).join(', ') || 'none'}`;
    case 'command.transition':
      return `command ${d.id} ${d.type} on ${d.agent_id}: ${d.status}${d.error ? ` (${d.error})` : ''}`;
    case 'session.created':
      return `session ${d.session_id} opened by ${d.agent_id}/${d.agent_pipe_id} on pipe ${d.pipe_id} as ${d.role}`;
    case 'session.closed':
      return `session ${d.session_id} of ${d.agent_id} ended: ${d.reason}`;
    case 'session.leader_changed':
      return `view ${d.view_id} leader: ${d.session_id ?? 'none'} (was ${d.previous_session_id ?? 'none'})`;
    case 'fusion.config_applied':
      return `fusion.yaml applied (${d.trigger}, ${shortSignature(d.signature)})`;
    case 'rollout.progress':
      return `rollout ${d.rollout_id} of group ${d.group}: ${d.status}`;
    default:
      return JSON.stringify(d);
  }
}

/**
 * Follows the event stream until interrupted. A dropped connection is
 * resumed with Last-Event-ID after a jittered backoff, so nothing is missed
 * while Fusion keeps the events; an auth error ends the watch with exit 1.
 */
async function follow(ctx: CommandContext): Promise<number> {
  const backoff = new Backoff({ baseMs: 250, capMs: 10_000 });
  const query = typeof ctx.flags.types === 'string' ? `?types=${encodeURIComponent(ctx.flags.types)}` : '';
  let lastId: string | undefined;
  const signal = ctx.io.signal;
  while (!signal?.aborted) {
    try {
      const res = await ctx.client.stream(`/api/v1/management/events${query}`, {
        accept: 'text/event-stream',
        ...(lastId ? { headers: { 'last-event-id': lastId } } : {}),
        ...(signal ? { signal } : {}),
      });
      for await (const message of readSse(res.body!)) {
        backoff.reset();
        if (message.id) lastId = message.id;
        if (message.event === 'error') throw new CliError(`the event stream ended: ${safeMessage(message.data)}`, 1, 'stream_error');
        if (message.event === 'ready' || message.event === 'resync') {
          if (message.event === 'resync' && !ctx.json) ctx.io.stderr.write('some events were missed while disconnected\n');
          continue;
        }
        const event = JSON.parse(message.data) as StreamEvent;
        ctx.io.stdout.write(ctx.json ? `${JSON.stringify(event)}\n` : `${new Date(event.at).toISOString()}  ${event.type.padEnd(22)} ${summarize(event)}\n`);
      }
    } catch (err) {
      if (signal?.aborted || (err as Error).name === 'AbortError') break;
      if (err instanceof CliError && err.code !== 'unreachable') throw err;
      if (!ctx.json) ctx.io.stderr.write(`${(err as Error).message}; reconnecting\n`);
    }
    if (signal?.aborted) break;
    await sleep(backoff.next(), signal);
  }
  return 0;
}

function safeMessage(data: string): string {
  try {
    return (JSON.parse(data) as { message?: string }).message ?? data;
  } catch {
    return data;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export const watchCommand: CliCommand = {
  name: 'watch',
  usage: 'watch [--types agent.*,command.transition] [--json]',
  summary: 'follow the live event stream (one line per event; --json: one JSON object per line) until Ctrl-C',
  options: { types: { type: 'string' } },
  run: follow,
};
