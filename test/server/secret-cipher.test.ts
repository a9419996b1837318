import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { SECRET_KEY_ENV, SecretCipher } from '../../server/secrets/secret-cipher.js';
import { tempHome } from '../harness/temp-home.js';

describe('secret cipher (AES-256-GCM at rest)', () => {
  let home: { path: string; remove(): Promise<void> };
  beforeEach(async () => (home = await tempHome('cipher-')));
  afterEach(() => home.remove());

  it('generates a 0600 key file once, and decrypts with it after a restart', async () => {
    const first = SecretCipher.open(home.path, {});
    const stored = first.encrypt('db', 'hunter2');
    expect(stored.includes(Buffer.from('hunter2'))).to.equal(false);
    const keyFile = path.join(home.path, 'secret.key');
    expect((await stat(keyFile)).mode & 0o777).to.equal(0o600);
    const key = await readFile(keyFile, 'utf8');
    expect(SecretCipher.open(home.path, {}).decrypt('db', stored)).to.equal('hunter2');
    expect(await readFile(keyFile, 'utf8')).to.equal(key);
  });

  it('binds a value to its name and its key', () => {
    const env = { [SECRET_KEY_ENV]: randomBytes(32).toString('base64') };
    const cipher = SecretCipher.open(home.path, env);
    const stored = cipher.encrypt('db', 'hunter2');
    expect(cipher.decrypt('db', stored)).to.equal('hunter2');
    expect(() => cipher.decrypt('other', stored)).to.throw(/does not decrypt/);
    expect(() => SecretCipher.open(home.path, { [SECRET_KEY_ENV]: randomBytes(32).toString('hex') }).decrypt('db', stored)).to.throw(/does not decrypt/);
    expect(() => SecretCipher.open(home.path, { [SECRET_KEY_ENV]: 'short' })).to.throw(/must be 32 bytes/);
  });
});
