import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import {
  generateSigningKeyPair,
  keyFingerprint,
  PackageSignature,
  signingKey,
  signPackage,
  SigningKeyError,
  verifyingKey,
  verifyPackage,
} from '../../shared/package/package-signature.js';

describe('package signatures (Ed25519)', () => {
  const pair = generateSigningKeyPair();
  const archive = Buffer.from('a package, byte for byte');

  it('verifies what the matching private key signed, and nothing else', () => {
    const signature = signPackage(archive, signingKey(pair.privateKeyPem));
    expect(PackageSignature.safeParse(signature).success).to.equal(true);
    const key = verifyingKey(pair.publicKeyPem);
    expect(verifyPackage(archive, signature, key)).to.equal(true);
    const tampered = Buffer.from(archive);
    tampered[3] = tampered[3]! ^ 1;
    expect(verifyPackage(tampered, signature, key)).to.equal(false);
    expect(verifyPackage(archive, signature, verifyingKey(generateSigningKeyPair().publicKeyPem))).to.equal(false);
    expect(verifyPackage(archive, 'garbage', key)).to.equal(false);
  });

  it('names a key by a stable fingerprint, the same from either half', () => {
    expect(keyFingerprint(verifyingKey(pair.publicKeyPem))).to.match(/^ed25519:[0-9a-f]{16}$/);
    expect(keyFingerprint(signingKey(pair.privateKeyPem))).to.equal(keyFingerprint(verifyingKey(pair.publicKeyPem)));
  });

  it('refuses keys that are not Ed25519 PEM', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => verifyingKey(rsa)).to.throw(SigningKeyError, /rsa, not Ed25519/);
    expect(() => verifyingKey('not a key')).to.throw(SigningKeyError, /not a PEM public key/);
    expect(() => signingKey(pair.publicKeyPem)).to.throw(SigningKeyError);
  });
});
