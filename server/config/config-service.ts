import { EventEmitter } from 'node:events';
import { configSignature, parseDocumentText, validateConfig, type ConfigIssue } from '../../shared/config/index.js';
import type { AgentStore } from '../store/agent-store.js';
import type { ConfigRevision, ConfigRevisionWithDocument, ConfigStore } from '../store/config-store.js';
import { ifMatchHolds, textVersion, type IfMatch } from '../http/conditional.js';
import { HttpError } from '../http/errors.js';

/** The config an agent should run. */
/** What a listing needs of an agent's desired config. */
export type DesiredHead = Pick<DesiredConfig, 'revision' | 'signature' | 'savedAt'>;

export interface DesiredConfig {
  revision: number;
  signature: string;
  document: Record<string, unknown>;
  /** JSON.stringify(document), when it is at hand (a bulk save encodes it to store it). */
  documentText?: string;
  /** When this revision was saved (epoch ms), when known. */
  savedAt?: number;
}

export interface SaveInput {
  agentId: string;
  format: 'yaml' | 'json';
  /** The text as written (YAML or JSON), or undefined when `document` is given. */
  text?: string;
  document?: unknown;
  author: string;
  /** The request's If-Match: the ETag (or, from older clients, the signature) the writer last saw, or `*`. */
  ifMatch?: IfMatch | undefined;
}

/** A validated, normalised document to store as an agent's next revision (see {@link ConfigService.saveMany}). */
export interface RenderedConfig {
  agentId: string;
  /** Normalised document (what validateConfig returned). */
  document: Record<string, unknown>;
  /** configSignature(document). */
  signature: string;
  author: string;
}

/**
 * Saving and reading desired agent configs. A save validates fully (parse,
 * schema, references, drivers) before anything is stored; a stored change is
 * announced with `desired_changed` so the gateway can push it.
 */
export class ConfigService extends EventEmitter<{
  desired_changed: [agentId: string, desired: DesiredConfig];
  /** The desired config is unchanged but what it resolves to is not (a secret it references was rotated). */
  desired_resolved_changed: [agentId: string, desired: DesiredConfig];
}> {
  /** The group whose template renders an agent's config, if any. */
  private groupOf: (agentId: string) => string | undefined = () => undefined;
  /** Throws 400 `unknown_secret` when a document references a secret that is not stored. */
  private requireSecrets: (document: object) => void = () => undefined;

  constructor(
    private readonly configs: ConfigStore,
    private readonly agents: AgentStore,
  ) {
    super();
  }

  /** Agents in a group get their config from the group: a direct save is refused with 409 `agent_in_group`. */
  setGroupLookup(lookup: (agentId: string) => string | undefined): void {
    this.groupOf = lookup;
  }

  /** Set by the secrets module: every save checks the secrets its document references exist. */
  setSecretCheck(check: (document: object) => void): void {
    this.requireSecrets = check;
  }

  /** Throws 400 `unknown_secret` when `document` (a config or a group template) references a secret that is not stored. */
  checkSecrets(document: object): void {
    this.requireSecrets(document);
  }

  /**
   * Announces agents' unchanged desired configs (`desired_resolved_changed`),
   * so a connected agent gets what the config now resolves to after a secret
   * it references was rotated.
   */
  announceResolved(agentIds: readonly string[]): void {
    // One agent's failing push must not keep the others from theirs.
    let failure: unknown;
    for (const agentId of agentIds) {
      try {
        const desired = this.desired(agentId);
        if (desired) this.emit('desired_resolved_changed', agentId, desired);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** Revision, signature and save time of the desired config, without its document (listings). */
  desiredHead(agentId: string): DesiredHead | undefined {
    const head = this.configs.head(agentId);
    return head ? { revision: head.revision, signature: head.signature, savedAt: head.created_at } : undefined;
  }

  desired(agentId: string): DesiredConfig | undefined {
    const latest = this.configs.latest(agentId);
    return latest ? { revision: latest.revision, signature: latest.signature, document: latest.document, savedAt: latest.created_at } : undefined;
  }

  /** Validates and stores a new revision; throws HttpError 400 (every issue listed) or 412 (stale If-Match). */
  save(input: SaveInput): ConfigRevisionWithDocument {
    const group = this.groupOf(input.agentId);
    if (group !== undefined) {
      throw new HttpError(409, 'agent_in_group', `agent ${input.agentId} gets its config from group "${group}"; set its override or variables in the group instead`, {
        group,
      });
    }
    let value: unknown = input.document;
    if (input.text !== undefined) {
      const parsed = parseDocumentText(input.text, input.format);
      if (!parsed.ok) throw invalid(parsed.errors);
      value = parsed.value;
    }
    const checked = validateConfig(value, { agentId: input.agentId });
    if (!checked.ok) throw invalid(checked.errors);
    const document = checked.config as Record<string, unknown>;
    this.requireSecrets(document);
    const sourceText = input.text ?? JSON.stringify(input.document, null, 2);
    const result = this.configs.save({
      agentId: input.agentId,
      signature: configSignature(document),
      document,
      format: input.format,
      sourceText,
      author: input.author,
      precondition: input.ifMatch && ((current) => ifMatchHolds(input.ifMatch, current && { version: revisionVersion(current), signature: current.signature })),
    });
    if ('conflict' in result) {
      const current = result.conflict;
      throw new HttpError(412, 'precondition_failed', `If-Match ${input.ifMatch!.header} does not match the current config`, {
        current_signature: current?.signature ?? null,
        current_version: current ? revisionVersion(current) : null,
      });
    }
    this.agents.ensure(input.agentId);
    const { revision, signature } = result.revision;
    this.emit('desired_changed', input.agentId, { revision, signature, document });
    return result.revision;
  }

  /**
   * Stores already validated documents as the next revision of each agent, in
   * one transaction together with `alongside` (the caller's own writes), then
   * announces each with `desired_changed` so connected agents get it at once.
   * Used by group templates, which render one document per member.
   */
  saveMany(entries: readonly RenderedConfig[], alongside?: () => void): ConfigRevisionWithDocument[] {
    // A rendered document has no text an admin wrote: its document is its
    // source (stored once, see NewRevision.sourceText). Its JSON is encoded once
    // per document object (members rendered alike share one).
    const texts = new Map<Record<string, unknown>, string>();
    const checked = new Set<Record<string, unknown>>();
    for (const entry of entries) {
      if (checked.has(entry.document)) continue;
      this.requireSecrets(entry.document);
      checked.add(entry.document);
    }
    const saved = this.configs.saveMany(
      entries.map((e) => {
        let text = texts.get(e.document);
        if (text === undefined) texts.set(e.document, (text = JSON.stringify(e.document)));
        return { agentId: e.agentId, signature: e.signature, document: e.document, author: e.author, format: 'json' as const, sourceText: '', documentText: text };
      }),
      () => {
        alongside?.();
        for (const entry of entries) this.agents.ensure(entry.agentId);
      },
    );
    // Everything is stored; one failing listener must not keep the others' agents from their push.
    let failure: unknown;
    for (let i = 0; i < saved.length; i++) {
      const rev = saved[i]!;
      try {
        const desired: DesiredConfig = { revision: rev.revision, signature: rev.signature, document: rev.document, documentText: texts.get(entries[i]!.document)! };
        this.emit('desired_changed', rev.agent_id, desired);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
    return saved;
  }
}

function invalid(errors: ConfigIssue[]): HttpError {
  return new HttpError(400, 'invalid_config', `config rejected: ${errors.length} problem(s)`, errors);
}

/** The version of a stored revision: its number and the hash of its text as written (see http/conditional). */
export function revisionVersion(rev: ConfigRevision): string {
  return textVersion(rev.revision, rev.source_text);
}
