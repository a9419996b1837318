import { expect } from 'chai';
import https from 'node:https';
import { Writable } from 'node:stream';
import pino from 'pino';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { makeCerts, type TestCerts } from '../harness/certs.js';
import { tempHome } from '../harness/temp-home.js';

function httpsGet(url: string, options: https.RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(url, options, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

describe('security: TLS and mutual TLS', function () {
  this.timeout(30_000);
  let dir: { path: string; remove(): Promise<void> };
  let certs: TestCerts;
  let fusion: TestFusion | undefined;

  before(async () => {
    dir = await tempHome('certs-');
    certs = makeCerts(dir.path);
  });
  afterEach(async () => {
    await fusion?.stop();
    fusion = undefined;
  });
  after(async () => {
    await dir.remove();
  });

  it('serves HTTPS and WSS with a certificate; a client that does not trust it is refused', async () => {
    fusion = await startFusion({ tls: { cert: certs.serverCert, key: certs.serverKey } });
    expect(fusion.url).to.match(/^https:/);
    expect(await httpsGet(`${fusion.url}/healthz`, { ca: certs.ca })).to.equal(200);
    const untrusted = await httpsGet(`${fusion.url}/healthz`, {}).catch((e: Error) => e.message);
    expect(untrusted).to.match(/self.signed|unable to verify|certificate/i);
    const agent = await RawAgentClient.connect(fusion.url, 'node-1', fusion.enrollmentToken, {}, { ca: certs.ca });
    const welcome = await agent.hello();
    expect(welcome.credential).to.be.a('string');
    agent.terminate();
  });

  it('with a CA requires a client certificate signed by it', async () => {
    fusion = await startFusion({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requireClientCert: true } });
    const without = await httpsGet(`${fusion.url}/healthz`, { ca: certs.ca }).catch((e: Error) => e.message);
    expect(without).to.be.a('string');
    expect(await httpsGet(`${fusion.url}/healthz`, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey })).to.equal(200);
    const noCert = await RawAgentClient.connect(fusion.url, 'node-1', fusion.enrollmentToken, {}, { ca: certs.ca }).then(
      (c) => (c.terminate(), 'connected'),
      () => 'refused',
    );
    expect(noCert).to.equal('refused');
    const agent = await RawAgentClient.connect(fusion.url, 'node-1', fusion.enrollmentToken, {}, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    await agent.hello();
    agent.terminate();
  });

  it('logs a refused client certificate as a warning that names TLS', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    fusion = await startFusion({ logger, tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requireClientCert: true } });
    const refused = await RawAgentClient.connect(fusion.url, 'node-1', fusion.enrollmentToken, {}, { ca: certs.ca }).then(
      (c) => (c.terminate(), 'connected'),
      () => 'refused',
    );
    expect(refused).to.equal('refused');
    const warning = await eventually(() => {
      const found = lines.find((l) => String(l.msg).includes('TLS handshake'));
      expect(found, 'a TLS warning in the log').to.not.equal(undefined);
      return found!;
    });
    expect(warning.level).to.equal(40);
    expect(String(warning.tlsError)).to.match(/CERTIFICATE/i);
    expect(warning.remote).to.be.a('string');
    expect(lines.some((l) => String(l.msg).includes('socket hang up'))).to.equal(false);
  });
});

