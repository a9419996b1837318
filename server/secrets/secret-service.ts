/**
 * Secrets as an admin and the config path see them: write-only values,
 * names that configs reference, the bundle (values + digest of versions) a
 * document needs when it is sent to an agent, and a push to every agent
 * whose config uses a secret when it is rotated.
 */
import { EventEmitter } from 'node:events';
import { mapStrings, MAX_SECRET_BYTES, SECRET_NAME, secretNames, secretReference, secretsDigest } from '../../shared/config/index.js';
import type { SecretBundle } from '../config/config-plan.js';
import { HttpError, notFound } from '../http/errors.js';
import type { SecretRecord, SecretStore, SecretUsers } from './secret-store.js';

/** Shortest value {@link SecretService.redactReported} looks for. */
const MIN_REDACTED_LENGTH = 8;

/**
 * Nothing read from the database is kept between calls: another Fusion
 * process on the same database may rotate or create a secret at any time,
 * and a bundle sent after a rotation must carry the new version.
 */
export class SecretService extends EventEmitter<{ rotated: [name: string, users: SecretUsers] }> {
  /** By document object: the names it references (documents are immutable once stored). */
  private readonly namesOf = new WeakMap<object, string[]>();

  constructor(private readonly store: SecretStore) {
    super();
  }

  async list(): Promise<(SecretRecord & { users: SecretUsers })[]> {
    const records = await this.store.list();
    const result: (SecretRecord & { users: SecretUsers })[] = [];
    for (const record of records) result.push({ ...record, users: await this.store.users(record.name) });
    return result;
  }

  async get(name: string): Promise<SecretRecord & { users: SecretUsers }> {
    const record = await this.store.get(checkName(name));
    if (!record) throw notFound(`secret ${name}`);
    return { ...record, users: await this.store.users(name) };
  }

  /** 201 semantics: 409 `secret_exists` when the name is taken. */
  async create(name: string, value: unknown, author: string): Promise<SecretRecord> {
    const record = await this.store.create(checkName(name), checkValue(value), author);
    if (!record) throw new HttpError(409, 'secret_exists', `secret ${name} already exists; rotate it (PUT) to change its value`);
    return record;
  }

  /** A new value (and version); once it is committed, every agent whose config uses the secret gets it pushed (`rotated`). */
  async rotate(name: string, value: unknown, author: string): Promise<SecretRecord> {
    const record = await this.store.rotate(checkName(name), checkValue(value), author);
    if (!record) throw notFound(`secret ${name}`);
    this.emit('rotated', name, await this.store.users(name));
    return record;
  }

  /** 409 `secret_in_use` (naming the users) while any agent config or group template references it. */
  async remove(name: string): Promise<void> {
    checkName(name);
    const outcome = await this.store.removeUnused(name);
    if (outcome === 'not_found') throw notFound(`secret ${name}`);
    if (outcome !== 'removed') {
      throw new HttpError(409, 'secret_in_use', `secret ${name} is referenced by ${describeUsers(outcome)}; remove the references first`, outcome);
    }
  }

  /**
   * Throws 400 `unknown_secret` naming every secret `document` references that is not stored.
   * `locked` (inside the transaction that stores the document): the secrets are held until it
   * commits, so a delete that checked for users before it waits and then sees the document.
   */
  async requireKnown(document: object, where = 'config', locked = false): Promise<void> {
    if (locked) await this.store.lock(this.names(document));
    const unknown = await this.store.unknown(this.names(document));
    if (unknown.length > 0) {
      throw new HttpError(400, 'unknown_secret', `the ${where} references unknown secret(s): ${unknown.join(', ')}; create them first`, { secrets: unknown });
    }
  }

  /** The values and version digest of the secrets `document` references; null when it references none. */
  async bundleFor(document: object): Promise<SecretBundle | null> {
    const names = this.names(document);
    if (names.length === 0) return null;
    const { values, versions } = await this.store.values(names);
    // A missing secret (deleted while referenced, which remove() refuses) sends no value; the agent NACKs naming it.
    return { values, digest: secretsDigest(versions) };
  }

  /**
   * A reported document with every stored secret's value put back as its
   * reference. Agents report references; this keeps a value out of the
   * reports table even if an agent of another version reports what it resolved.
   * Values shorter than {@link MIN_REDACTED_LENGTH} are left alone: replacing
   * a two-letter value everywhere would mangle the document, not protect it.
   */
  async redactReported<T>(document: T): Promise<T> {
    if (document === null || typeof document !== 'object') return document;
    const values = Object.entries(await this.store.allValues()).filter(([, value]) => value.length >= MIN_REDACTED_LENGTH);
    if (values.length === 0) return document;
    // Longest first, so a value that contains another is replaced whole.
    values.sort((a, b) => b[1].length - a[1].length);
    const redact = (text: string): string => {
      for (const [name, secret] of values) if (text.includes(secret)) text = text.split(secret).join(secretReference(name));
      return text;
    };
    return mapStrings(document, redact) as T;
  }

  private names(document: object): string[] {
    let names = this.namesOf.get(document);
    if (names === undefined) this.namesOf.set(document, (names = secretNames(document)));
    return names;
  }
}

function checkName(name: string): string {
  if (!SECRET_NAME.test(name)) throw new HttpError(400, 'bad_request', 'a secret name is 1-128 letters, digits, dot, dash and underscore, starting with a letter or digit');
  return name;
}

function checkValue(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new HttpError(400, 'bad_request', 'value must be a non-empty string');
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES) throw new HttpError(400, 'bad_request', `value exceeds ${MAX_SECRET_BYTES} bytes`);
  return value;
}

function describeUsers(users: SecretUsers): string {
  const parts: string[] = [];
  if (users.agents.length) parts.push(`agent(s) ${users.agents.slice(0, 10).join(', ')}${users.agents.length > 10 ? ` and ${users.agents.length - 10} more` : ''}`);
  if (users.groups.length) parts.push(`group(s) ${users.groups.join(', ')}`);
  return parts.join(' and ');
}
