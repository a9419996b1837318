/**
 * Local configuration: every `$FUSTOR_HOME/agent-config/*.yaml` (and `.yml`)
 * merged into one document. Sources, senders and pipes share one namespace
 * across files, so an id defined in two files is an error that names both.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { canonicalJson, parseDocumentText, validateConfig, type AgentConfig } from '../../shared/config/index.js';

/** Directory of the local config files under the agent's home. */
export function localConfigDir(home: string): string {
  return path.join(home, 'agent-config');
}

export type LocalConfigResult =
  /** `config` is null when there are no local files at all. */
  | { ok: true; config: AgentConfig | null; files: string[] }
  /** Every problem, each naming its file where it has one. */
  | { ok: false; errors: string[]; files: string[] };

const SECTIONS = ['sources', 'senders', 'pipes'] as const;

/**
 * Reads, merges and validates the local config files (sorted by name, so the
 * result never depends on directory order). Never throws for bad content.
 */
export async function loadLocalConfig(home: string, options: { agentId?: string } = {}): Promise<LocalConfigResult> {
  const dir = localConfigDir(home);
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && /\.ya?ml$/i.test(e.name) && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, config: null, files: [] };
    return { ok: false, errors: [`${dir}: ${(err as Error).message}`], files: [] };
  }
  const files = names.map((n) => path.join(dir, n));
  if (files.length === 0) return { ok: true, config: null, files };

  const merged = new MergedDocument();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      merged.errors.push(`${file}: ${(err as Error).message}`);
      continue;
    }
    const parsed = parseDocumentText(text, 'yaml');
    if (!parsed.ok) {
      for (const e of parsed.errors) merged.errors.push(`${file}: ${e.path}: ${e.message}`);
      continue;
    }
    merged.add(file, parsed.value);
  }
  if (merged.errors.length > 0) return { ok: false, errors: merged.errors, files };

  const checked = validateConfig(merged.document, options);
  if (!checked.ok) {
    return { ok: false, errors: checked.errors.map((e) => `${merged.fileOf(e.path, files)}${e.path}: ${e.message}`), files };
  }
  return { ok: true, config: checked.config, files };
}

/** Accumulates files into one document and remembers which file defined what. */
class MergedDocument {
  readonly document: Record<string, unknown> = {};
  readonly errors: string[] = [];
  /** `section.id` or top-level key → file that defined it. */
  private readonly origin = new Map<string, string>();

  add(file: string, value: unknown): void {
    if (value === null || value === undefined) return; // an empty file contributes nothing
    if (!isPlainObject(value)) {
      this.errors.push(`${file}: (root): expected a mapping with sources, senders and pipes`);
      return;
    }
    for (const [key, part] of Object.entries(value)) {
      if ((SECTIONS as readonly string[]).includes(key)) this.addSection(file, key, part);
      else this.addTopLevel(file, key, part);
    }
  }

  /** Prefix naming the file an issue path points into, when known. */
  fileOf(issuePath: string, files: string[]): string {
    const [first, second] = issuePath.split('.');
    const file =
      (second !== undefined && this.origin.get(`${first}.${second}`)) || (first !== undefined && this.origin.get(first)) || (files.length === 1 ? files[0] : undefined);
    return file ? `${file}: ` : '';
  }

  private addSection(file: string, section: string, part: unknown): void {
    if (part === null || part === undefined) return;
    if (!isPlainObject(part)) {
      this.errors.push(`${file}: ${section}: expected a mapping of id to settings`);
      return;
    }
    const target = (this.document[section] ??= {}) as Record<string, unknown>;
    for (const [id, settings] of Object.entries(part)) {
      const key = `${section}.${id}`;
      const previous = this.origin.get(key);
      if (previous !== undefined) {
        this.errors.push(`${section}.${id}: defined in both ${previous} and ${file}`);
        continue;
      }
      this.origin.set(key, file);
      target[id] = settings;
    }
  }

  private addTopLevel(file: string, key: string, part: unknown): void {
    const previous = this.origin.get(key);
    if (previous !== undefined) {
      if (canonicalJson(this.document[key]) !== canonicalJson(part)) {
        this.errors.push(`${key}: set differently in ${previous} and ${file}`);
      }
      return;
    }
    this.origin.set(key, file);
    this.document[key] = part;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
