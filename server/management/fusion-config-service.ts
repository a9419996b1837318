import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { configSignature, type ConfigIssue } from '../../shared/config/index.js';
import type { Logger } from '../../shared/logger.js';
import { fusionConfigYaml, validateFusionConfig, type DataPlane, type FusionConfig, type FusionConfigCheck } from '../dataplane/index.js';
import { parsePool } from '../parse/parse-pool.js';
import type { FusionEvents } from '../events/event-bus.js';
import type { FusionConfigChanges, FusionConfigTrigger } from '../events/event-types.js';
import { ifMatchHolds, textVersion, type IfMatch } from '../http/conditional.js';
import { HttpError } from '../http/errors.js';
import { writeFileAtomic } from '../../shared/atomic-write.js';
import { diffFusionConfig } from './fusion-config-diff.js';

/** fusion.yaml as it is on disk, next to the config in force. */
export interface FusionConfigFile {
  path: string;
  exists: boolean;
  /** The file's text ('' when it does not exist). */
  text: string;
  /**
   * ETag of the file: the signature of its normalised document when it is
   * valid (a comment or white-space edit is no change), else a hash of its
   * text; null when the file does not exist.
   */
  signature: string | null;
  /** Version of the file's text (changes with any byte, comments included; see http/conditional); null when it does not exist. */
  version: string | null;
  valid: boolean;
  /** Every problem when the file does not parse or validate. */
  errors: ConfigIssue[];
  /** The normalised document (defaults filled in) when valid. */
  document: FusionConfig | null;
  /** Signature of the config Fusion runs now. */
  applied_signature: string;
}

/** What a save or reload did. */
export interface FusionConfigApplied {
  path: string;
  signature: string;
  /** Version of the file's text now (see FusionConfigFile.version). */
  version: string | null;
  changes: FusionConfigChanges;
}

export interface SaveFusionConfig {
  /** YAML or JSON text, as the admin wrote it. */
  text: string;
  format: 'yaml' | 'json';
  /** The request's If-Match: the file's ETag (or, from older clients, its signature) the writer last saw, or `*`. */
  ifMatch?: IfMatch | undefined;
  author: string;
}

/**
 * Fusion's own config file, edited through the API or by hand. A save is
 * validated in full before anything happens, honours If-Match, writes the
 * file atomically (mode 0600) and then applies it without a restart; a reload
 * re-reads the file and applies it. Saves and reloads run one at a time, so
 * the If-Match check, the write and the apply see one consistent file.
 */
export class FusionConfigService {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: { dataPlane: DataPlane; bus: FusionEvents; log: Logger },
  ) {}

  get path(): string {
    return this.options.dataPlane.configPath;
  }

  /** Signature of the config in force. */
  appliedSignature(): string {
    return configSignature(this.options.dataPlane.config);
  }

  read(): Promise<FusionConfigFile> {
    return this.readFile();
  }

  /** Validates, checks If-Match, writes and applies; throws HttpError 400 (every issue) or 412. */
  async save(input: SaveFusionConfig): Promise<FusionConfigApplied> {
    const check = await checkOffLoop(input.text, input.format);
    if (!check.ok) throw invalid(check.errors);
    return this.exclusive(async () => {
      const current = await this.readFile();
      if (!ifMatchHolds(input.ifMatch, current.exists ? { version: current.version!, signature: current.signature } : undefined)) {
        throw new HttpError(412, 'precondition_failed', `If-Match ${input.ifMatch!.header} does not match the current fusion.yaml`, {
          current_signature: current.signature,
          current_version: current.version,
        });
      }
      // YAML keeps the admin's comments and layout; a JSON document is written as YAML.
      const text = input.format === 'yaml' ? input.text : fusionConfigYaml(check.config);
      await writeFileAtomic(this.path, text);
      this.options.log.info({ author: input.author, path: this.path }, 'fusion.yaml saved');
      return { ...this.apply(check.config, 'api'), version: fileVersion(text) };
    });
  }

  /** Re-reads fusion.yaml and applies it; an invalid or missing file changes nothing (HttpError 400 / 404). */
  reload(trigger: Exclude<FusionConfigTrigger, 'api'>): Promise<FusionConfigApplied> {
    return this.exclusive(async () => {
      const file = await this.readFile();
      if (!file.exists) throw new HttpError(404, 'not_found', `${this.path} does not exist; the config in force is unchanged`);
      if (!file.valid || !file.document) throw invalid(file.errors);
      return { ...this.apply(file.document, trigger), version: file.version };
    });
  }

  private apply(config: FusionConfig, trigger: FusionConfigTrigger): Omit<FusionConfigApplied, 'version'> {
    const { dataPlane, bus, log } = this.options;
    const previous = dataPlane.config;
    dataPlane.reload(config);
    const changes = diffFusionConfig(previous, dataPlane.config);
    const signature = configSignature(dataPlane.config);
    log.info({ trigger, signature, changes }, 'fusion config applied');
    bus.publish('fusion.config_applied', { signature, trigger, changes });
    return { path: this.path, signature, changes };
  }

  private async readFile(): Promise<FusionConfigFile> {
    const base = { path: this.path, applied_signature: this.appliedSignature() };
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return { ...base, exists: false, text: '', signature: null, version: null, valid: false, errors: [{ path: '(root)', message: 'the file does not exist' }], document: null };
    }
    const check = await checkOffLoop(text, 'yaml');
    const version = fileVersion(text);
    if (check.ok) return { ...base, exists: true, text, version, signature: configSignature(check.config), valid: true, errors: [], document: check.config };
    const hash = `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
    return { ...base, exists: true, text, version, signature: hash, valid: false, errors: check.errors, document: null };
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function invalid(errors: ConfigIssue[]): HttpError {
  return new HttpError(400, 'invalid_fusion_config', `fusion config rejected: ${errors.length} problem(s)`, errors);
}

/** Parses fusion.yaml text (on a worker when it is large, see server/parse) and validates it. */
async function checkOffLoop(text: string, format: 'yaml' | 'json'): Promise<FusionConfigCheck> {
  const parsed = await parsePool.run({ kind: 'document', text, format });
  return parsed.ok ? validateFusionConfig(parsed.value) : parsed;
}

/** A file has no revision number: its version is its name and the hash of its text. */
function fileVersion(text: string): string {
  return textVersion('file', text);
}
