/**
 * Encryption at rest of secret values: AES-256-GCM, a fresh 96-bit nonce per
 * value, the secret's name as associated data (a ciphertext copied to another
 * name does not decrypt). The key comes from `FUSION_SECRET_KEY` (32 bytes as
 * 64 hex digits or base64) or, without it, from `<home>/secret.key`, generated
 * at first start with mode 0600. Losing the key loses the secrets' values.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** First byte of every stored value: the layout version, so a future key rotation can tell formats apart. */
const FORMAT = 1;

/** Name of the environment variable that holds the key. */
export const SECRET_KEY_ENV = 'FUSION_SECRET_KEY';
/** File the key is kept in when the environment does not give one. */
export const SECRET_KEY_FILE = 'secret.key';

export class SecretCipher {
  private constructor(private readonly key: Buffer) {}

  /** The key from `env[FUSION_SECRET_KEY]`, else from (or newly written to) `<home>/secret.key`. Throws on a malformed key. */
  static open(home: string, env: NodeJS.ProcessEnv = process.env): SecretCipher {
    const fromEnv = env[SECRET_KEY_ENV];
    if (fromEnv !== undefined && fromEnv !== '') return new SecretCipher(parseKey(fromEnv, SECRET_KEY_ENV));
    const file = path.join(home, SECRET_KEY_FILE);
    if (!existsSync(file)) {
      // 'wx': two processes starting at once cannot both write a key.
      try {
        writeFileSync(file, `${randomBytes(KEY_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    chmodSync(file, 0o600);
    return new SecretCipher(parseKey(readFileSync(file, 'utf8'), file));
  }

  encrypt(name: string, value: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([FORMAT]), nonce, cipher.getAuthTag(), body]);
  }

  /** Throws when the value was not encrypted with this key for this name. */
  decrypt(name: string, stored: Buffer): string {
    if (stored.length < 1 + NONCE_BYTES + TAG_BYTES || stored[0] !== FORMAT) throw new Error(`secret ${name}: unknown stored format`);
    const nonce = stored.subarray(1, 1 + NONCE_BYTES);
    const tag = stored.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce);
    decipher.setAAD(Buffer.from(name, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(stored.subarray(1 + NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`secret ${name} does not decrypt with this key (was ${SECRET_KEY_ENV} or ${SECRET_KEY_FILE} changed?)`);
    }
  }
}

function parseKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) throw new Error(`${where}: the secret key must be 32 bytes, as 64 hex digits or base64`);
  return key;
}
