import { duration, json, table } from '../format.js';
import { stringFlag } from '../flags.js';
import type { CliCommand } from './context.js';

/** An ingest session as the dashboard lists it (times in epoch ms, ages in seconds). */
interface SessionJson {
  session_id: string;
  agent_id: string;
  agent_pipe_id: string;
  pipe_id: string;
  view_ids: string[];
  role: string;
  leader_of: string[];
  age_seconds: number;
  idle_seconds: number;
  events_pushed: number;
  last_scan: { id: string; events: number; done: boolean } | null;
}

/** `done (1200 events)`, `running (300 events)`, `-`. */
function scan(s: SessionJson): string {
  return s.last_scan ? `${s.last_scan.done ? 'done' : 'running'} (${s.last_scan.events} events)` : '-';
}

/**
 * The open ingest sessions: which agent pipe feeds which Fusion pipe and
 * views, whether it leads them, and its counters. Read from the dashboard
 * (viewer role), which lists every session; filtered here.
 */
export const sessionsCommand: CliCommand = {
  name: 'sessions',
  usage: 'sessions [--agent ID] [--view VIEW] [--json]',
  summary: 'open ingest sessions: agent pipe → Fusion pipe and views, leader or follower, events pushed, idle time, last scan',
  options: { agent: { type: 'string' }, view: { type: 'string' } },
  async run(ctx) {
    const agent = stringFlag(ctx.flags, 'agent');
    const view = stringFlag(ctx.flags, 'view');
    const { sessions } = await ctx.client.json<{ sessions: SessionJson[] }>('/api/v1/management/dashboard');
    const shown = sessions.filter((s) => (agent === undefined || s.agent_id === agent) && (view === undefined || s.view_ids.includes(view)));
    if (ctx.json) {
      ctx.io.stdout.write(json(shown));
      return 0;
    }
    if (!shown.length) {
      ctx.io.stdout.write('no open sessions\n');
      return 0;
    }
    const rows = shown.map((s) => [
      s.session_id,
      `${s.agent_id}/${s.agent_pipe_id}`,
      s.pipe_id,
      s.view_ids.join(',') || '-',
      s.leader_of.length ? `leader of ${s.leader_of.join(',')}` : 'follower',
      String(s.events_pushed),
      duration(s.age_seconds * 1000),
      duration(s.idle_seconds * 1000),
      scan(s),
    ]);
    ctx.io.stdout.write(table(['SESSION', 'AGENT/PIPE', 'PIPE', 'VIEWS', 'ROLE', 'EVENTS', 'AGE', 'IDLE', 'LAST SCAN'], rows));
    return 0;
  },
};
