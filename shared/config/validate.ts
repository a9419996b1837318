import { parseDocumentText, type ConfigIssue } from './document-text.js';
import { AgentConfig } from './schema.js';
import { AGENT_DRIVERS, knownDrivers } from './drivers.js';
import { malformedSecretNames, secretNames } from './secret-refs.js';
import { nonCanonicalValues } from './signature.js';

export type ConfigCheck = { ok: true; config: AgentConfig } | { ok: false; errors: ConfigIssue[] };

/**
 * Full validation of a config document: schema, then reference integrity
 * (every pipe names an existing source and sender), known drivers and the
 * parameters each driver requires. Returns every problem, each with its path.
 * On success the config is normalised (defaults filled in).
 */
export function validateConfig(document: unknown, options: { agentId?: string } = {}): ConfigCheck {
  const unsignable = nonCanonicalValues(document);
  if (unsignable.length) return { ok: false, errors: unsignable };
  const parsed = AgentConfig.safeParse(document);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => ({ path: i.path.length ? i.path.join('.') : '(root)', message: i.message })),
    };
  }
  const config = parsed.data;
  const errors: ConfigIssue[] = [];
  if (options.agentId !== undefined && config.agent_id !== undefined && config.agent_id !== options.agentId) {
    errors.push({ path: 'agent_id', message: `config names agent "${config.agent_id}" but belongs to "${options.agentId}"` });
  }
  checkDrivers('source', config.sources, 'sources', errors);
  checkDrivers('sender', config.senders, 'senders', errors);
  for (const [id, pipe] of Object.entries(config.pipes)) {
    if (!Object.hasOwn(config.sources, pipe.source)) {
      errors.push({ path: `pipes.${id}.source`, message: `unknown source "${pipe.source}"` });
    }
    if (!Object.hasOwn(config.senders, pipe.sender)) {
      errors.push({ path: `pipes.${id}.sender`, message: `unknown sender "${pipe.sender}"` });
    }
  }
  for (const name of malformedSecretNames(secretNames(config))) {
    errors.push({ path: '(root)', message: `malformed secret reference \${secret:${name}}: a secret name is letters, digits, dot, dash and underscore` });
  }
  return errors.length ? { ok: false, errors } : { ok: true, config };
}

/** Parses and validates in one step. */
export function parseConfigText(text: string, format: 'yaml' | 'json', options: { agentId?: string } = {}): ConfigCheck {
  const parsed = parseDocumentText(text, format);
  return parsed.ok ? validateConfig(parsed.value, options) : parsed;
}

/** Turns issues into one human line, e.g. for a NACK reason. */
export function formatIssues(errors: ConfigIssue[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`).join('; ');
}

function checkDrivers(
  kind: 'source' | 'sender',
  components: Record<string, { driver: string; credential?: { key: string } | undefined }>,
  section: string,
  errors: ConfigIssue[],
): void {
  const known = knownDrivers(kind);
  for (const [id, component] of Object.entries(components)) {
    const info = AGENT_DRIVERS.find((d) => d.kind === kind && d.name === component.driver);
    if (!info) {
      errors.push({ path: `${section}.${id}.driver`, message: `unknown ${kind} driver "${component.driver}"; known: ${known.join(', ')}` });
      continue;
    }
    for (const param of info.params) {
      if (param.required && param.name === 'credential.key' && !component.credential?.key) {
        errors.push({ path: `${section}.${id}.credential.key`, message: `driver "${info.name}" requires credential.key` });
      }
    }
  }
}
