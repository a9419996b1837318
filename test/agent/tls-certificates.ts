/**
 * A throw-away PKI for TLS tests, made with the openssl command line at test
 * time: a CA, a server certificate for 127.0.0.1 signed by it, a client
 * certificate signed by it, and an unrelated second CA. EC P-256 keys keep
 * generation in the milliseconds.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPki {
  dir: string;
  /** Paths. */
  files: { ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string; otherCa: string };
  /** PEM contents of the server side (what Fusion is given). */
  pem: { ca: string; serverCert: string; serverKey: string };
  /** PEM contents of a client that trusts the CA and holds the client certificate (an agent's or admin's TLS material). */
  clientPem: { ca: string; cert: string; key: string };
  remove(): Promise<void>;
}

export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fustor-pki-'));
  const at = (name: string): string => path.join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const makeCa = (name: string, cn: string): Promise<unknown> =>
    run('openssl', [
      'req', '-x509', ...ecKey, '-keyout', at(`${name}.key`), '-out', at(`${name}.pem`), '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  const makeLeaf = async (name: string, cn: string, extensions: string): Promise<void> => {
    await writeFile(at(`${name}.ext`), extensions);
    await run('openssl', ['req', ...ecKey, '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await run('openssl', [
      'x509', '-req', '-in', at(`${name}.csr`), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial',
      '-out', at(`${name}.pem`), '-days', '2', '-extfile', at(`${name}.ext`),
    ]);
  };
  try {
    await Promise.all([makeCa('ca', 'Fustor Test CA'), makeCa('other-ca', 'Unrelated CA')]);
    await makeLeaf('server', 'fusion.test', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    await makeLeaf('client', 'node-1', 'extendedKeyUsage=clientAuth\n');
    const files = {
      ca: at('ca.pem'),
      serverCert: at('server.pem'),
      serverKey: at('server.key'),
      clientCert: at('client.pem'),
      clientKey: at('client.key'),
      otherCa: at('other-ca.pem'),
    };
    const pem = {
      ca: await readFile(files.ca, 'utf8'),
      serverCert: await readFile(files.serverCert, 'utf8'),
      serverKey: await readFile(files.serverKey, 'utf8'),
    };
    const clientPem = { ca: pem.ca, cert: await readFile(files.clientCert, 'utf8'), key: await readFile(files.clientKey, 'utf8') };
    return { dir, files, pem, clientPem, remove: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
