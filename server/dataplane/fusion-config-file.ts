import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nanoid } from 'nanoid';
import YAML from 'yaml';
import { writeFileAtomic } from '../../shared/atomic-write.js';
import { FusionConfigError, parseFusionConfigText, validateFusionConfig, type FusionConfig } from './fusion-config.js';

/** File name of Fusion's own config inside `$FUSTOR_HOME`. */
export const FUSION_CONFIG_FILE = 'fusion.yaml';

/** Length of a generated receiver API key (nanoid alphabet, ~190 bits). */
export const GENERATED_API_KEY_LENGTH = 32;

export interface LoadedFusionConfig {
  config: FusionConfig;
  /** Absolute path of the file read or written. */
  path: string;
  /** Set only when the file was missing and a default was written: the new key, for the caller to print once. */
  generatedApiKey?: string;
}

/** The config written on first start: one receiver, one view and one pipe, all named `default`. */
export function defaultFusionConfig(apiKey: string): FusionConfig {
  const check = validateFusionConfig({
    receivers: { default: { driver: 'http', api_keys: [{ key: apiKey, pipe_id: 'default' }] } },
    views: { default: { driver: 'fs' } },
    pipes: { default: { receiver: 'default', views: ['default'] } },
  });
  if (!check.ok) throw new FusionConfigError('default fusion config is invalid', check.errors);
  return check.config;
}

/**
 * Reads and validates `<home>/fusion.yaml`. A missing file is not an error:
 * the default config is written (mode 0600, atomically) with a fresh API key,
 * returned as `generatedApiKey`. A file that does not parse or validate throws
 * a FusionConfigError listing every problem; it is never overwritten.
 */
export async function loadFusionConfig(home: string): Promise<LoadedFusionConfig> {
  const path = join(home, FUSION_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const generatedApiKey = nanoid(GENERATED_API_KEY_LENGTH);
    const config = defaultFusionConfig(generatedApiKey);
    await writeFusionConfig(home, config);
    return { config, path, generatedApiKey };
  }
  const check = parseFusionConfigText(text, 'yaml');
  if (!check.ok) throw new FusionConfigError(`invalid ${path}`, check.errors);
  return { config: check.config, path };
}

/** The YAML text of a config, with a header saying what the file is. */
export function fusionConfigYaml(config: FusionConfig): string {
  const header = [
    '# Fusion data plane: receivers (ingest endpoints and their API keys), views (indexed trees)',
    '# and pipes (which receiver feeds which views). Holds secrets: keep this file mode 0600.',
  ].join('\n');
  return `${header}\n${YAML.stringify(config)}`;
}

/**
 * Writes `<home>/fusion.yaml` atomically (temporary file in the same directory,
 * fsync, rename) with mode 0600, so a reader never sees half a file and the
 * keys are readable by the owner only. Creates `home` (mode 0700) if needed.
 */
export async function writeFusionConfig(home: string, config: FusionConfig): Promise<string> {
  const path = join(home, FUSION_CONFIG_FILE);
  await writeFileAtomic(path, fusionConfigYaml(config), 0o600);
  return path;
}
