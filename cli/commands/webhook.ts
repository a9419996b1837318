import { usageError } from '../errors.js';
import { ago, json, table } from '../format.js';
import { required, type CliCommand } from './context.js';

const USAGE = 'webhook (list | create <name> <url> --event TYPE... | delete <id> | test <id> | deliveries <id> [--limit N]) [--json]';

export const webhookCommand: CliCommand = {
  name: 'webhook',
  usage: USAGE,
  summary: 'webhook subscriptions: signed POSTs of events (agent.offline, rollout.progress, ...) with retries and a delivery log',
  options: { event: { type: 'string', multiple: true }, limit: { type: 'string' } },
  async run(ctx) {
    const action = required(ctx, 0, 'list|create|delete|test|deliveries', USAGE);
    const base = '/api/v1/management/webhooks';
    const out = (value: unknown, text: string): number => {
      ctx.io.stdout.write(ctx.json ? json(value) : text);
      return 0;
    };
    switch (action) {
      case 'list': {
        const { webhooks } = await ctx.client.json<{ webhooks: any[] }>(base);
        return out(webhooks, webhooks.length ? table(['ID', 'NAME', 'URL', 'EVENTS'], webhooks.map((w) => [w.id, w.name, w.url, w.events.join(',')])) : 'no webhooks\n');
      }
      case 'create': {
        const name = required(ctx, 1, 'name', USAGE);
        const url = required(ctx, 2, 'url', USAGE);
        const events = (ctx.flags.event as string[] | undefined) ?? [];
        if (!events.length) throw usageError(`give at least one --event; usage: fustorctl ${USAGE}`);
        const hook = await ctx.client.json<any>(base, { method: 'POST', contentType: 'application/json', body: JSON.stringify({ name, url, events }) });
        return out(hook, `webhook ${hook.id} created\nsecret: ${hook.secret} (shown once)\n`);
      }
      case 'delete': {
        const id = required(ctx, 1, 'id', USAGE);
        await ctx.client.request(`${base}/${encodeURIComponent(id)}`, { method: 'DELETE' });
        return out({ deleted: id }, `webhook ${id} deleted\n`);
      }
      case 'test': {
        const id = required(ctx, 1, 'id', USAGE);
        const sent = await ctx.client.json<any>(`${base}/${encodeURIComponent(id)}/test`, { method: 'POST' });
        return out(sent, `ping queued (delivery ${sent.delivery_id}); see: fustorctl webhook deliveries ${id}\n`);
      }
      case 'deliveries': {
        const id = required(ctx, 1, 'id', USAGE);
        const limit = typeof ctx.flags.limit === 'string' ? `?limit=${encodeURIComponent(ctx.flags.limit)}` : '';
        const page = await ctx.client.json<{ deliveries: any[] }>(`${base}/${encodeURIComponent(id)}/deliveries${limit}`);
        const now = Date.now();
        return out(
          page,
          page.deliveries.length
            ? table(['ID', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST', 'CREATED'], page.deliveries.map((d) => [String(d.id), d.event_type, d.status, String(d.attempts), d.last_error ?? String(d.last_status ?? '-'), ago(d.created_at, now)]))
            : 'no deliveries\n',
        );
      }
      default:
        throw usageError(`unknown webhook action "${action}"; usage: fustorctl ${USAGE}`);
    }
  },
};
