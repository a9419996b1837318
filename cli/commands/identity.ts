import { usageError } from '../errors.js';
import { ago, fields, isoTime, json, table } from '../format.js';
import { agentIdArg } from './agents.js';
import type { CliCommand } from './context.js';

const ENROLLMENTS_USAGE = 'enrollments [pending|accepted|rejected] | enrollments accept|reject|forget <agent> [--json]';
const CREDENTIAL_USAGE = 'credential <agent> [rotate|release] [--json]';
const STATES = ['pending', 'accepted', 'rejected'];

/** `fustorctl enrollments`: agents waiting for approval (or decided), and the decisions. */
export const enrollmentsCommand: CliCommand = {
  name: 'enrollments',
  usage: ENROLLMENTS_USAGE,
  summary: 'enrollment requests awaiting approval; accept or reject one, or forget it so the id may ask again',
  options: {},
  async run(ctx) {
    const action = ctx.args[0];
    if (action === 'accept' || action === 'reject' || action === 'forget') {
      const id = agentIdArg(ctx, 1, ENROLLMENTS_USAGE);
      const path = `/api/v1/management/enrollment-requests/${encodeURIComponent(id)}`;
      const answer = await ctx.client.json<any>(action === 'forget' ? path : `${path}/${action}`, { method: action === 'forget' ? 'DELETE' : 'POST' });
      if (ctx.json) ctx.io.stdout.write(json(answer));
      else ctx.io.stdout.write(action === 'forget' ? `forgot the enrollment request of ${id}\n` : `${id}: ${answer.state}${answer.state === 'accepted' ? ' (it is enrolled when it next asks)' : ''}\n`);
      return 0;
    }
    if (action !== undefined && !STATES.includes(action)) throw usageError(`unknown state or action "${action}"; usage: fustorctl ${ENROLLMENTS_USAGE}`);
    const query = action ? `?state=${action}` : '';
    const { requests } = await ctx.client.json<{ requests: any[] }>(`/api/v1/management/enrollment-requests${query}`);
    if (ctx.json) {
      ctx.io.stdout.write(json(requests));
      return 0;
    }
    if (!requests.length) {
      ctx.io.stdout.write(`no ${action ?? ''} enrollment requests\n`.replace('  ', ' '));
      return 0;
    }
    const now = Date.now();
    ctx.io.stdout.write(
      table(
        ['AGENT', 'STATE', 'HOST', 'ADDRESS', 'TOKEN', 'ASKED', 'LAST ASKED', 'DECIDED BY'],
        requests.map((r) => [r.agent_id, r.state, r.hostname ?? '-', r.address ?? '-', r.token_id, ago(r.requested_at, now), ago(r.last_seen, now), r.decided_by ?? '-']),
      ),
    );
    return 0;
  },
};

/** `fustorctl credential <agent>`: an agent's live credentials (never a secret); rotate or release them. */
export const credentialCommand: CliCommand = {
  name: 'credential',
  usage: CREDENTIAL_USAGE,
  summary: "an agent's credentials and their expiry; rotate them now, or release the id so it can enrol again",
  options: {},
  async run(ctx) {
    const id = agentIdArg(ctx, 0, CREDENTIAL_USAGE);
    const action = ctx.args[1];
    const base = `/api/v1/management/agents/${encodeURIComponent(id)}`;
    if (action === 'rotate' || action === 'release') {
      const answer = await ctx.client.json<any>(`${base}/${action === 'rotate' ? 'rotate-credential' : 'release'}`, { method: 'POST' });
      if (ctx.json) ctx.io.stdout.write(json(answer));
      else if (action === 'rotate') ctx.io.stdout.write(answer.sent_now ? `${id}: sent its next credential\n` : `${id}: gets its next credential at its next contact\n`);
      else ctx.io.stdout.write(`${id}: released ${answer.released_credentials} credential(s)${answer.disconnected ? ', disconnected' : ''}; it may enrol again\n`);
      return 0;
    }
    if (action !== undefined) throw usageError(`unknown action "${action}"; usage: fustorctl ${CREDENTIAL_USAGE}`);
    const answer = await ctx.client.json<any>(`${base}/credentials`);
    if (ctx.json) {
      ctx.io.stdout.write(json(answer));
      return 0;
    }
    const now = Date.now();
    if (!answer.credentials.length) ctx.io.stdout.write(`${id} holds no live credential${answer.enrollment_request ? ` (enrollment ${answer.enrollment_request.state})` : ''}\n`);
    else {
      ctx.io.stdout.write(
        table(
          ['CREDENTIAL', 'ISSUED', 'EXPIRES', 'ROTATION'],
          answer.credentials.map((c: any) => [c.id, ago(c.created_at, now), c.expires_at === null ? 'never' : isoTime(c.expires_at), c.rotate_requested_at ? 'requested' : '-']),
        ),
      );
    }
    if (answer.enrollment_request && answer.credentials.length) ctx.io.stdout.write(fields([['enrollment', answer.enrollment_request.state]]));
    return 0;
  },
};
