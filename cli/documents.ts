/**
 * Reading and writing the documents fustorctl moves (agent configs, group
 * templates, fusion.yaml): from a file or stdin, to a file or stdout.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { usageError } from './errors.js';
import type { CommandContext } from './commands/context.js';
import { readAll } from './io.js';

/** A document read from the command line, and whether it is JSON (by the file's extension, or a leading `{` on stdin). */
export interface InputDocument {
  text: string;
  isJson: boolean;
}

/** Reads `file`, or stdin when it is absent or `-`. */
export async function readDocument(ctx: CommandContext, file: string | undefined): Promise<InputDocument> {
  if (file && file !== '-') {
    try {
      return { text: await readFile(file, 'utf8'), isJson: extname(file).toLowerCase() === '.json' };
    } catch (err) {
      throw usageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (!ctx.io.stdin) throw usageError('give a file, or pipe the document into stdin');
  const text = await readAll(ctx.io.stdin);
  return { text, isJson: text.trimStart().startsWith('{') };
}

/**
 * Writes `text` to `file` readable by its owner only (configs carry
 * credentials) and says so on stderr with `note`; prints it on stdout when
 * there is no file (or `-`).
 */
export async function writeDocument(ctx: CommandContext, file: string | undefined, text: string, note: string): Promise<void> {
  if (file && file !== '-') {
    await writeFile(file, text, { mode: 0o600 });
    ctx.io.stderr.write(`wrote ${file} (${note})\n`);
  } else {
    ctx.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
}

/** An If-Match header from `--if-match`, when given (quotes and W/ optional). */
export function ifMatchHeader(flags: CommandContext['flags']): Record<string, string> | undefined {
  return typeof flags['if-match'] === 'string' ? { 'if-match': `"${unquote(flags['if-match'])}"` } : undefined;
}

/** An ETag's value without quotes or `W/`; `?` when absent. */
export function unquote(value: string | null | undefined): string {
  return (value ?? '?').replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}
