/**
 * `fustorctl secret list|show|create|rotate|delete`: the secrets agent
 * configs reference as `${secret:name}`. A value is never an argument (it
 * would sit in shell history and the process list): it is read from a file
 * (`--value-file`), an environment variable (`--from-env`) or stdin, with one
 * trailing newline dropped. No command prints a value; Fusion never returns one.
 */
import { readFile } from 'node:fs/promises';
import { CliError, usageError } from '../errors.js';
import { ago, fields, isoTime, json, table } from '../format.js';
import { readAll } from '../io.js';
import { required, type CliCommand, type CommandContext } from './context.js';

const USAGE = 'secret list | show <name> | create <name> | rotate <name> | delete <name>  [--value-file F | --from-env VAR]';

interface SecretJson {
  name: string;
  version: number;
  created_at: number;
  updated_at: number;
  updated_by: string;
  users?: { agents: string[]; groups: string[] };
}

export const secretCommand: CliCommand = {
  name: 'secret',
  usage: USAGE,
  summary: 'secrets configs reference as ${secret:name}: list (with users), create or rotate (value from a file, env or stdin), delete',
  options: { 'value-file': { type: 'string' }, 'from-env': { type: 'string' } },
  async run(ctx) {
    const action = required(ctx, 0, 'action', USAGE);
    const path = (name: string): string => `/api/v1/management/secrets/${encodeURIComponent(name)}`;
    switch (action) {
      case 'list': {
        const { secrets } = await ctx.client.json<{ secrets: SecretJson[] }>('/api/v1/management/secrets');
        if (ctx.json) ctx.io.stdout.write(json(secrets));
        else if (!secrets.length) ctx.io.stdout.write('no secrets yet\n');
        else {
          const now = Date.now();
          const rows = secrets.map((s) => [s.name, String(s.version), ago(s.updated_at, now), s.updated_by, usersOf(s)]);
          ctx.io.stdout.write(table(['NAME', 'VERSION', 'UPDATED', 'BY', 'USED BY'], rows));
        }
        return 0;
      }
      case 'show': {
        const s = await ctx.client.json<SecretJson>(path(required(ctx, 1, 'name', USAGE)));
        ctx.io.stdout.write(
          ctx.json
            ? json(s)
            : fields([
                ['name', s.name],
                ['version', String(s.version)],
                ['created', isoTime(s.created_at)],
                ['updated', `${isoTime(s.updated_at)} by ${s.updated_by}`],
                ['agents', s.users?.agents.join(', ') || '-'],
                ['groups', s.users?.groups.join(', ') || '-'],
              ]),
        );
        return 0;
      }
      case 'create':
      case 'rotate': {
        const name = required(ctx, 1, 'name', USAGE);
        const value = await readValue(ctx);
        const body = JSON.stringify(action === 'create' ? { name, value } : { value });
        const s = await ctx.client.json<SecretJson>(action === 'create' ? '/api/v1/management/secrets' : path(name), {
          method: action === 'create' ? 'POST' : 'PUT',
          body,
          contentType: 'application/json',
        });
        ctx.io.stdout.write(ctx.json ? json(s) : `${action === 'create' ? 'created' : 'rotated'} secret ${s.name} (version ${s.version})\n`);
        return 0;
      }
      case 'delete': {
        const name = required(ctx, 1, 'name', USAGE);
        await ctx.client.request(path(name), { method: 'DELETE' });
        ctx.io.stdout.write(`deleted secret ${name}\n`);
        return 0;
      }
      default:
        throw usageError(`unknown secret action "${action}"; usage: fustorctl ${USAGE}`);
    }
  },
};

function usersOf(s: SecretJson): string {
  const agents = s.users?.agents ?? [];
  const groups = s.users?.groups ?? [];
  const parts = [...groups.map((g) => `group ${g}`), ...(agents.length ? [`${agents.length} agent(s)`] : [])];
  return parts.join(', ') || '-';
}

/** The value from --value-file, --from-env or stdin; one trailing newline is not part of it. */
async function readValue(ctx: CommandContext): Promise<string> {
  const file = ctx.flags['value-file'];
  const variable = ctx.flags['from-env'];
  if (typeof file === 'string' && typeof variable === 'string') throw usageError('give --value-file or --from-env, not both');
  let value: string;
  if (typeof variable === 'string') {
    const fromEnv = ctx.io.env[variable];
    if (fromEnv === undefined) throw usageError(`environment variable ${variable} is not set`);
    value = fromEnv;
  } else if (typeof file === 'string' && file !== '-') {
    try {
      value = await readFile(file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
    }
  } else {
    if (!ctx.io.stdin) throw usageError('no value: give --value-file, --from-env or pipe it on stdin');
    value = await readAll(ctx.io.stdin);
  }
  value = value.replace(/\r?\n$/, '');
  if (value === '') throw usageError('the secret value is empty');
  return value;
}
