import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { httpGet, HttpRequestError, type HttpGetOptions } from '../../agent/control/http-client.js';
import { isTlsFailure, type TlsMaterial } from '../../agent/control/tls-files.js';
import { createTestPki, type TestPki } from './tls-certificates.js';

/** What the test server saw of each request. */
interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  clientCertificate?: string;
}

describe('agent HTTP client (TLS, timeouts, limits)', () => {
  let pki: TestPki;
  let client: TlsMaterial;
  let server: http.Server | undefined;
  const seen: Seen[] = [];

  /** Answers /ok with a JSON body, /big with 1 MiB, /hang never. */
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const cn = (req.socket as Partial<TLSSocket>).getPeerCertificate?.().subject?.CN;
    seen.push({ path: req.url ?? '', headers: req.headers, ...(typeof cn === 'string' && { clientCertificate: cn }) });
    if (req.url === '/ok') res.writeHead(200, { 'content-type': 'application/json', 'x-thing': 'yes' }).end('{"ok":true}');
    else if (req.url === '/big') res.writeHead(200).end(Buffer.alloc(1024 * 1024));
    else if (req.url === '/hang') res.writeHead(200).write('partial');
    else res.writeHead(404).end();
  };

  async function listen(s: http.Server): Promise<string> {
    server = s;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return `${s instanceof https.Server ? 'https' : 'http'}://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }

  async function refusal(promise: Promise<unknown>): Promise<HttpRequestError> {
    try {
      await promise;
    } catch (err) {
      expect(err).to.be.instanceOf(HttpRequestError);
      return err as HttpRequestError;
    }
    throw new Error('expected an HttpRequestError');
  }

  before(async () => {
    pki = await createTestPki();
    client = pki.clientPem;
  });
  after(async () => {
    await pki.remove();
  });
  afterEach(async () => {
    seen.length = 0;
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  const options = (extra: Partial<HttpGetOptions> = {}): HttpGetOptions => ({ timeoutMs: 2_000, ...extra });

  it('GETs over plain http with headers, and returns status, headers and body', async () => {
    const url = await listen(http.createServer(handler));
    const res = await httpGet(`${url}/ok`, options({ headers: { authorization: 'Bearer t' } }));
    expect(res.status).to.equal(200);
    expect(res.headers['x-thing']).to.equal('yes');
    expect(JSON.parse(res.body.toString('utf8'))).to.deep.equal({ ok: true });
    expect(seen[0]!.headers.authorization).to.equal('Bearer t');
    expect((await httpGet(`${url}/nothing`, options())).status).to.equal(404);
  });

  it('trusts a server certificate signed by the configured CA, and refuses it without that CA', async () => {
    const url = await listen(https.createServer({ cert: pki.pem.serverCert, key: pki.pem.serverKey }, handler));
    expect((await httpGet(`${url}/ok`, options({ tls: { ca: pki.pem.ca } }))).status).to.equal(200);
    const untrusted = await refusal(httpGet(`${url}/ok`, options({ tls: { ca: await readFile(pki.files.otherCa, 'utf8') } })));
    expect(untrusted.code).to.equal('network');
    expect(isTlsFailure(untrusted.cause)).to.equal(true);
    expect(seen).to.have.length(1);
  });

  it('presents its client certificate to a server that requires one (mutual TLS)', async () => {
    const url = await listen(
      https.createServer({ cert: pki.pem.serverCert, key: pki.pem.serverKey, ca: pki.pem.ca, requestCert: true, rejectUnauthorized: true }, handler),
    );
    expect((await httpGet(`${url}/ok`, options({ tls: client }))).status).to.equal(200);
    expect(seen[0]!.clientCertificate).to.equal('node-1');
    const anonymous = await refusal(httpGet(`${url}/ok`, options({ tls: { ca: pki.pem.ca } })));
    expect(anonymous.code).to.equal('network');
    expect(seen).to.have.length(1);
  });

  it('gives up after its timeout, on abort, and on a body over its limit', async () => {
    const url = await listen(http.createServer(handler));
    const started = Date.now();
    expect((await refusal(httpGet(`${url}/hang`, options({ timeoutMs: 150 })))).code).to.equal('timeout');
    expect(Date.now() - started).to.be.within(140, 1_500);
    const controller = new AbortController();
    const pending = httpGet(`${url}/hang`, options({ signal: controller.signal }));
    controller.abort();
    expect((await refusal(pending)).code).to.equal('aborted');
    expect((await refusal(httpGet(`${url}/big`, options({ maxBodyBytes: 64 * 1024 })))).code).to.equal('body_too_large');
    expect((await httpGet(`${url}/big`, options())).body.length).to.equal(1024 * 1024);
    expect((await refusal(httpGet('ftp://example/', options()))).code).to.equal('bad_url');
  });
});
