/**
 * Ed25519 signatures of agent packages. The packaging script signs the .tgz
 * with a private key kept off Fusion; Fusion stores the signature beside the
 * package and puts it in the `upgrade` command; an agent that pins the public
 * key (`package_public_key` in its bootstrap) installs only a package whose
 * signature verifies, so a compromised Fusion or a swapped file cannot
 * install code on it. The signature covers the whole archive as uploaded.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/** An Ed25519 signature (64 bytes) in base64, as it travels in headers, records and commands. */
export const PackageSignature = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'expected an Ed25519 signature: 64 bytes in base64');

/** The HTTP header an upload carries the signature in. */
export const PACKAGE_SIGNATURE_HEADER = 'x-package-signature';

/** A key that is not an Ed25519 key in PEM. */
export class SigningKeyError extends Error {
  readonly code = 'invalid_signing_key';
}

/** Parses a PEM private key; throws {@link SigningKeyError} unless it is Ed25519. */
export function signingKey(pem: string | Buffer): KeyObject {
  return ed25519(() => createPrivateKey(pem), 'private');
}

/** Parses a PEM public key (or a private key, whose public half is taken); throws {@link SigningKeyError} unless it is Ed25519. */
export function verifyingKey(pem: string | Buffer): KeyObject {
  return ed25519(() => createPublicKey(pem), 'public');
}

/** Signs an archive: the base64 signature. */
export function signPackage(archive: Buffer, key: KeyObject): string {
  return sign(null, archive, key).toString('base64');
}

/** True when `signature` is a valid Ed25519 signature of `archive` by `key`. Never throws. */
export function verifyPackage(archive: Buffer, signature: string, key: KeyObject): boolean {
  if (!PackageSignature.safeParse(signature).success) return false;
  try {
    return verify(null, archive, key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** A short, stable name of a public key for messages: `ed25519:` and 16 hex digits of the sha256 of its DER. */
export function keyFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return `ed25519:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)}`;
}

/** A new key pair, both halves in PEM (PKCS#8 and SPKI). */
export function generateSigningKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function ed25519(parse: () => KeyObject, kind: string): KeyObject {
  let key: KeyObject;
  try {
    key = parse();
  } catch (err) {
    throw new SigningKeyError(`not a PEM ${kind} key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new SigningKeyError(`the ${kind} key is ${key.asymmetricKeyType ?? 'not asymmetric'}, not Ed25519`);
  return key;
}
