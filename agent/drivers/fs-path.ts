import path from 'node:path';
import type { FsOps } from './fs-ops.js';

/**
 * Turns an operator's path into a path relative to `root`, "/"-separated, ""
 * for the root itself. Accepted: a path relative to the root, or an absolute
 * path inside it. Refused, before any entry is read: a path that leaves the
 * root lexically (`..`), an absolute path elsewhere, and a path whose real
 * location (every symlink followed) lies outside the root's real location.
 * The returned path names that real location.
 */
export async function resolveInsideRoot(fs: FsOps, root: string, input: string): Promise<string> {
  if (input.includes('\0')) throw new Error(`path ${JSON.stringify(input)} contains a NUL byte`);
  const realRoot = await fs.realpath(root);
  let lexical: string | null;
  if (path.isAbsolute(input)) {
    const absolute = path.resolve(input);
    lexical = relativeInside(root, absolute) ?? relativeInside(realRoot, absolute);
  } else {
    lexical = relativeInside(root, path.resolve(root, input));
  }
  if (lexical === null) throw new Error(`path "${input}" is outside the source root ${root}`);

  let real: string;
  try {
    real = await fs.realpath(path.join(realRoot, lexical));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Error(`path "${input}" does not exist under the source root ${root}`);
    throw new Error(`path "${input}" cannot be resolved: ${(err as Error).message}`);
  }
  const inside = relativeInside(realRoot, real);
  if (inside === null) throw new Error(`path "${input}" leads outside the source root ${root} through a symlink`);
  return inside.split(path.sep).join('/');
}

/** `target` relative to `base`, or null when it is not `base` or below it. */
export function relativeInside(base: string, target: string): string | null {
  const rel = path.relative(base, target);
  if (rel === '') return '';
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return null;
  return rel;
}
