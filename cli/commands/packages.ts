import { readFile, stat } from 'node:fs/promises';
import { PackageVersion } from '../../shared/package/agent-package.js';
import { usageError } from '../errors.js';
import { ago, json, table } from '../format.js';
import { required, type CliCommand, type CommandContext } from './context.js';

const USAGE = 'packages list | upload <file.tgz> [--version V] | delete <version> [--force] [--json]';
const BASE = '/api/v1/management/packages';
/** Fusion's default upload limit; a bigger file is refused before it is read. */
const MAX_UPLOAD_BYTES = 128 * 1024 * 1024;

interface PackageJson {
  version: string;
  sha256: string;
  size: number;
  uploaded_at: number;
  uploaded_by: string;
}

/** A version from the command line, checked with the same rule Fusion applies. */
export function versionArg(ctx: CommandContext, index: number, usage: string): string {
  const version = required(ctx, index, 'version', usage);
  const parsed = PackageVersion.safeParse(version);
  if (!parsed.success) throw usageError(`invalid version "${version}": ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  return version;
}

async function list(ctx: CommandContext): Promise<number> {
  const { packages } = await ctx.client.json<{ packages: PackageJson[] }>(BASE);
  if (ctx.json) ctx.io.stdout.write(json(packages));
  else if (!packages.length) ctx.io.stdout.write('no packages uploaded\n');
  else {
    const now = Date.now();
    ctx.io.stdout.write(table(['VERSION', 'SIZE', 'SHA256', 'UPLOADED', 'BY'], packages.map((p) => [p.version, `${p.size}`, p.sha256.slice(0, 12), ago(p.uploaded_at, now), p.uploaded_by])));
  }
  return 0;
}

async function upload(ctx: CommandContext): Promise<number> {
  const file = required(ctx, 1, 'file.tgz', USAGE);
  const unreadable = (err: unknown): never => {
    throw usageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  };
  const { size } = await stat(file).catch(unreadable);
  if (size > MAX_UPLOAD_BYTES) throw usageError(`${file} is ${size} bytes; Fusion takes packages up to ${MAX_UPLOAD_BYTES} bytes`);
  const data = await readFile(file).catch(unreadable);
  const version = typeof ctx.flags.version === 'string' ? `?version=${encodeURIComponent(ctx.flags.version)}` : '';
  const record = await ctx.client.json<PackageJson>(`${BASE}${version}`, { method: 'POST', contentType: 'application/gzip', body: data });
  ctx.io.stdout.write(ctx.json ? json(record) : `uploaded package ${record.version} (${record.size} bytes, sha256 ${record.sha256})\n`);
  return 0;
}

async function remove(ctx: CommandContext): Promise<number> {
  const version = versionArg(ctx, 1, USAGE);
  const force = ctx.flags.force === true;
  const res = await ctx.client.request(`${BASE}/${encodeURIComponent(version)}${force ? '?force=true' : ''}`, { method: 'DELETE', accept: 'application/json' });
  // 204 without --force; 200 with what a forced delete did.
  const released = res.text ? (JSON.parse(res.text) as { cancelled_commands: string[]; running_commands: string[]; halted_rollouts: string[] }) : undefined;
  if (ctx.json) ctx.io.stdout.write(json(released ?? { version }));
  else {
    ctx.io.stdout.write(`deleted package ${version}\n`);
    if (released) {
      ctx.io.stdout.write(
        `  cancelled commands: ${released.cancelled_commands.join(', ') || 'none'}\n` +
          `  still running (already acknowledged): ${released.running_commands.join(', ') || 'none'}\n` +
          `  halted upgrade rollouts: ${released.halted_rollouts.join(', ') || 'none'}\n`,
      );
    }
  }
  return 0;
}

/** Agent packages Fusion serves to `upgrade` commands: list (viewer), upload and delete (admin). */
export const packagesCommand: CliCommand = {
  name: 'packages',
  usage: USAGE,
  summary: 'agent packages: list, upload a .tgz (npm run package:agent builds one), delete (--force also halts its rollouts and cancels its commands)',
  options: { version: { type: 'string' }, force: { type: 'boolean' } },
  run(ctx) {
    const action = required(ctx, 0, 'list|upload|delete', USAGE);
    if (action === 'list') return list(ctx);
    if (action === 'upload') return upload(ctx);
    if (action === 'delete') return remove(ctx);
    throw usageError(`unknown packages action "${action}"; usage: fustorctl ${USAGE}`);
  },
};
