/**
 * TLS material for the agent's connections to the control plane: a CA that
 * Fusion's certificate must chain to, and a client certificate and key for
 * mutual TLS. The files are read and checked once, at start-up, so a wrong
 * path or a key that does not match its certificate is reported at once
 * instead of as a handshake failure on every reconnect.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Paths of the TLS files, as configured (`ca`, `cert`, `key` in bootstrap.yaml). */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * PEM contents, ready for `https.request` and `ws` options. `key` is a secret:
 * never log this object.
 */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * Reads and checks the configured files. Returns the material, or one issue
 * per problem (`<key>: <what is wrong>`), never both.
 */
export function readTlsFiles(files: TlsFiles): { material: TlsMaterial; issues: [] } | { material?: undefined; issues: string[] } {
  const issues: string[] = [];
  const material: TlsMaterial = {};
  const read = (name: keyof TlsFiles): string | undefined => {
    const file = files[name];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      issues.push(`${name}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  };
  const certificate = (name: 'ca' | 'cert', pem: string | undefined): X509Certificate | undefined => {
    if (pem === undefined) return undefined;
    try {
      const parsed = new X509Certificate(pem);
      material[name] = pem;
      return parsed;
    } catch (err) {
      issues.push(`${name}: ${files[name]} is not a PEM certificate (${(err as Error).message})`);
      return undefined;
    }
  };

  certificate('ca', read('ca'));
  const cert = certificate('cert', read('cert'));
  const keyPem = read('key');
  let key: KeyObject | undefined;
  if (keyPem !== undefined) {
    try {
      key = createPrivateKey(keyPem);
      material.key = keyPem;
    } catch (err) {
      issues.push(`key: ${files.key} is not an unencrypted PEM private key (${(err as Error).message})`);
    }
  }
  if (cert && key && !cert.checkPrivateKey(key)) {
    issues.push(`key: ${files.key} is not the private key of the certificate in ${files.cert}`);
  }
  return issues.length > 0 ? { issues } : { material, issues: [] };
}

/** Whether a socket error is a failed TLS handshake (untrusted or mismatched certificate, refused client certificate). */
export function isTlsFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|HOSTNAME/.test(code);
}
