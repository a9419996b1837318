import { configSignature, parseDocumentText, validateConfig, type ConfigIssue } from '../../shared/config/index.js';
import { Slicer } from '../loop/slicer.js';
import type { AgentBus } from '../bus/agent-bus.js';
import type { ConfigRevision, ConfigRevisionWithDocument, ConfigStore, NewRevision } from '../store/config-store.js';
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
  /**
   * The result of parsing `text` off the event loop (see server/parse):
   * `value` is the parsed document still to validate; `checked` a document
   * already validated for this agent, with its signature.
   */
  parsed?: { value: unknown } | { checked: Record<string, unknown>; signature: string; documentText?: string } | { errors: ConfigIssue[] } | undefined;
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
 * put on the agent bus so the socket's holder pushes it.
 */
export class ConfigService {
  /** The group whose template renders an agent's config, if any. */
  private groupOf: (agentId: string) => Promise<string | undefined> = () => Promise.resolve(undefined);
  /** Throws 400 `unknown_secret` when a document references a secret that is not stored. */
  private requireSecrets: (document: object, locked?: boolean) => Promise<void> = async () => undefined;

  constructor(
    private readonly configs: ConfigStore,
    /** Where a stored change leaves for the agent's socket (see server/bus/agent-bus.ts). */
    private readonly bus: AgentBus,
  ) {}

  /**
   * Puts a desired config on the agent bus; the socket's holder pushes it
   * (in this process at once, before this returns). A subscriber's failure is
   * the bus's to log: it never undoes or fails the save.
   */
  private announce(agentId: string, desired: DesiredConfig, cause: 'saved' | 'resolved'): void {
    void this.bus.publish({ type: 'config', agent_id: agentId, revision: desired.revision, signature: desired.signature, cause }, desired);
  }

  /** Agents in a group get their config from the group: a direct save is refused with 409 `agent_in_group`. */
  setGroupLookup(lookup: (agentId: string) => Promise<string | undefined>): void {
    this.groupOf = lookup;
  }

  /** Set by the secrets module: every save checks the secrets its document references exist. */
  setSecretCheck(check: (document: object, locked?: boolean) => Promise<void>): void {
    this.requireSecrets = check;
  }

  /** Throws 400 `unknown_secret` when `document` (a config or a group template) references a secret that is not stored. */
  async checkSecrets(document: object, locked = false): Promise<void> {
    await this.requireSecrets(document, locked);
  }

  /**
   * Announces agents' unchanged desired configs (cause `resolved`), so a
   * connected agent gets what the config now resolves to after a secret it
   * references was rotated.
   */
  async announceResolved(agentIds: readonly string[]): Promise<void> {
    for (const agentId of agentIds) {
      const desired = await this.desired(agentId);
      if (desired) this.announce(agentId, desired, 'resolved');
    }
  }

  /** Revision, signature and save time of the desired config, without its document (listings). */
  async desiredHead(agentId: string): Promise<DesiredHead | undefined> {
    const head = await this.configs.head(agentId);
    return head ? { revision: head.revision, signature: head.signature, savedAt: head.created_at } : undefined;
  }

  async desired(agentId: string): Promise<DesiredConfig | undefined> {
    const latest = await this.configs.latest(agentId);
    return latest ? { revision: latest.revision, signature: latest.signature, document: latest.document, savedAt: latest.created_at } : undefined;
  }

  /** A stored document by its signature (any agent's, any revision). */
  document(signature: string): Promise<Record<string, unknown> | undefined> {
    return this.configs.document(signature);
  }

  /**
   * What {@link save} would store, without storing it: the validated
   * document and signature (and its JSON text when a worker made it), or
   * every problem. Throws what save throws before validating (409 for a
   * group member).
   */
  async check(
    input: Omit<SaveInput, 'author' | 'ifMatch'>,
  ): Promise<{ document: Record<string, unknown>; signature: string; documentText?: string } | { errors: ConfigIssue[] }> {
    await this.assertNotInGroup(input.agentId);
    if (input.parsed && 'errors' in input.parsed) return { errors: input.parsed.errors };
    if (input.parsed && 'checked' in input.parsed) {
      return { document: input.parsed.checked, signature: input.parsed.signature, ...(input.parsed.documentText !== undefined ? { documentText: input.parsed.documentText } : {}) };
    }
    let value: unknown = input.document;
    if (input.parsed) value = input.parsed.value;
    else if (input.text !== undefined) {
      const parsed = parseDocumentText(input.text, input.format);
      if (!parsed.ok) return { errors: parsed.errors };
      value = parsed.value;
    }
    const checked = validateConfig(value, { agentId: input.agentId });
    if (!checked.ok) return { errors: checked.errors };
    const document = checked.config as Record<string, unknown>;
    return { document, signature: configSignature(document) };
  }

  /** Validates and stores a new revision; throws HttpError 400 (every issue listed) or 412 (stale If-Match). */
  async save(input: SaveInput): Promise<ConfigRevisionWithDocument> {
    const checked = await this.check(input);
    if ('errors' in checked) throw invalid(checked.errors);
    const { document, signature, documentText } = checked;
    await this.requireSecrets(document);
    const sourceText = input.text ?? JSON.stringify(input.document, null, 2);
    const result = await this.configs.save({
      agentId: input.agentId,
      signature,
      document,
      ...(documentText !== undefined ? { documentText } : {}),
      format: input.format,
      sourceText,
      author: input.author,
      precondition: input.ifMatch && ((current) => ifMatchHolds(input.ifMatch, current && { version: revisionVersion(current), signature: current.signature })),
      // Again under the agent's row lock, which a group join's save takes too: a join committed since the check above wins;
      // and the secrets, held against a delete until the save commits (one committed since the check above wins).
      guard: async () => {
        await this.assertNotInGroup(input.agentId);
        await this.requireSecrets(document, true);
      },
    });
    if ('conflict' in result) {
      const current = result.conflict;
      throw new HttpError(412, 'precondition_failed', `If-Match ${input.ifMatch!.header} does not match the current config`, {
        current_signature: current?.signature ?? null,
        current_version: current ? revisionVersion(current) : null,
      });
    }
    this.announce(input.agentId, { revision: result.revision.revision, signature: result.revision.signature, document, ...(documentText !== undefined ? { documentText } : {}) }, 'saved');
    return result.revision;
  }

  /** 409 `agent_in_group` for an agent whose config comes from a group template. */
  async assertNotInGroup(agentId: string): Promise<void> {
    const group = await this.groupOf(agentId);
    if (group !== undefined) {
      throw new HttpError(409, 'agent_in_group', `agent ${agentId} gets its config from group "${group}"; set its override or variables in the group instead`, {
        group,
      });
    }
  }

  /**
   * Stores already validated documents as the next revision of each agent, in
   * one transaction together with `alongside` (the caller's own writes), then
   * announces each on the agent bus so connected agents get it at once.
   * Used by group templates, which render one document per member; the
   * group module checked the secrets they reference when their template and
   * member data were written (see GroupService.checkSecrets).
   */
  async saveMany(entries: readonly RenderedConfig[], alongside?: () => Promise<void>): Promise<ConfigRevisionWithDocument[]> {
    // A rendered document has no text an admin wrote: its document is its
    // source (stored once, see NewRevision.sourceText). Its JSON is encoded once
    // per document object (members rendered alike share one).
    // Encoding ten thousand documents, and announcing ten thousand configs (a push each): the event loop gets a turn every few milliseconds.
    const slicer = new Slicer();
    const texts = new Map<Record<string, unknown>, string>();
    const revisions: NewRevision[] = [];
    for (const e of entries) {
      await slicer.turn();
      let text = texts.get(e.document);
      if (text === undefined) texts.set(e.document, (text = JSON.stringify(e.document)));
      revisions.push({ agentId: e.agentId, signature: e.signature, document: e.document, author: e.author, format: 'json', sourceText: '', documentText: text });
    }
    const saved = await this.configs.saveMany(revisions, alongside);
    for (let i = 0; i < saved.length; i++) {
      await slicer.turn();
      const rev = saved[i]!;
      this.announce(rev.agent_id, { revision: rev.revision, signature: rev.signature, document: rev.document, documentText: texts.get(entries[i]!.document)! }, 'saved');
    }
    return saved;
  }
}

export function invalid(errors: ConfigIssue[]): HttpError {
  return new HttpError(400, 'invalid_config', `config rejected: ${errors.length} problem(s)`, errors);
}

/** The version of a stored revision: its number and the hash of its text as written (see http/conditional). */
export function revisionVersion(rev: ConfigRevision): string {
  return textVersion(rev.revision, rev.source_text);
}
