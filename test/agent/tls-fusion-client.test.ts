import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TlsMaterial } from '../../agent/control/tls-files.js';
import { FusionClient, type FusionResult } from '../../agent/drivers/fusion-client.js';
import { eventually } from '../harness/eventually.js';
import { createTestPki, type TestPki } from './tls-certificates.js';

/** What the receiver saw of each request. */
interface Seen {
  method: string;
  path: string;
  apiKey: string | undefined;
  body: string;
  clientCertificate?: string;
}

describe('fusion client over https (the agent\'s CA, client certificate and keep-alive pool)', () => {
  let pki: TestPki;
  let client: TlsMaterial;
  let server: https.Server | undefined;
  const clients: FusionClient[] = [];
  const seen: Seen[] = [];
  /** TLS connections the receiver accepted, and how many of them are still open. */
  let connections = 0;
  const open = new Set<Socket>();

  /** Answers every request 201 with a session, except `/slow` (never) and `/busy` (503 with Retry-After). */
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
      const apiKey = req.headers['x-api-key'];
      seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        apiKey: typeof apiKey === 'string' ? apiKey : undefined,
        body: Buffer.concat(chunks).toString('utf8'),
        ...(typeof cn === 'string' && { clientCertificate: cn }),
      });
      if (req.url === '/slow') return;
      if (req.url === '/busy') res.writeHead(503, { 'retry-after': '2', 'content-type': 'application/json' }).end('{"error":{"code":"unavailable","message":"busy"}}');
      else res.writeHead(201, { 'content-type': 'application/json' }).end('{"session_id":"s-1"}');
    });
  };

  async function listen(options: https.ServerOptions): Promise<string> {
    const s = https.createServer(options, handler);
    s.on('secureConnection', (socket) => {
      connections += 1;
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    });
    s.on('tlsClientError', () => undefined);
    server = s;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }

  function fusionClient(url: string, tls: TlsMaterial | undefined, timeoutMs = 2_000): FusionClient {
    const c = new FusionClient(url, 'receiver-key', timeoutMs, tls);
    clients.push(c);
    return c;
  }

  const post = (c: FusionClient, path: string, body?: unknown, signal = new AbortController().signal): Promise<FusionResult> =>
    c.request('POST', path, body, signal);

  before(async () => {
    pki = await createTestPki();
    client = pki.clientPem;
  });
  after(async () => {
    await pki.remove();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    seen.length = 0;
    connections = 0;
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('trusts a receiver signed by the agent\'s CA, sends its batches over one kept-alive connection, and closes it on close()', async () => {
    const url = await listen({ cert: pki.pem.serverCert, key: pki.pem.serverKey });
    const c = fusionClient(url, { ca: pki.pem.ca });
    for (let i = 0; i < 5; i += 1) {
      const result = await post(c, '/api/v1/pipe/sessions/s-1/events', { events: [{ n: i }] });
      expect(result).to.deep.equal({ ok: true, status: 201, body: { session_id: 's-1' } });
    }
    const deleted = await c.request('DELETE', '/api/v1/pipe/sessions/s-1', undefined, new AbortController().signal);
    expect(deleted.ok).to.equal(true);
    expect(seen.map((s) => s.body)).to.deep.equal([0, 1, 2, 3, 4].map((n) => JSON.stringify({ events: [{ n }] })).concat(''));
    expect(seen.at(-1)).to.include({ method: 'DELETE', apiKey: 'receiver-key' });
    expect(connections, 'one TLS connection for every request').to.equal(1);
    expect(open.size).to.equal(1);

    c.close();
    await eventually(() => open.size === 0);
    // A request after close() opens a new connection.
    expect((await post(c, '/again')).ok).to.equal(true);
    expect(connections).to.equal(2);
  });

  it('reports a receiver its CA does not vouch for as a transient failure that names TLS', async () => {
    const url = await listen({ cert: pki.pem.serverCert, key: pki.pem.serverKey });
    const untrusted = await post(fusionClient(url, { ca: await readFile(pki.files.otherCa, 'utf8') }), '/api/v1/pipe/sessions', { pipe_id: 'p' });
    expect(untrusted.ok).to.equal(false);
    const failure = (untrusted as Extract<FusionResult, { ok: false }>).failure;
    expect(failure.kind).to.equal('transient');
    expect(failure.message).to.match(/^fusion unreachable \(POST \/api\/v1\/pipe\/sessions\): TLS handshake failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY): /);
    expect(failure.message).to.match(/check the agent's ca, cert and key options$/);
    expect(seen, 'no request got past the handshake').to.have.length(0);
    // Without any CA the system CAs do not vouch for it either.
    const noCa = await post(fusionClient(url, undefined), '/api/v1/pipe/sessions');
    expect(!noCa.ok && noCa.failure.message).to.match(/TLS handshake failed/);
  });

  it('presents the agent\'s client certificate to a receiver that requires one; without it the failure names TLS', async () => {
    const url = await listen({ cert: pki.pem.serverCert, key: pki.pem.serverKey, ca: pki.pem.ca, requestCert: true, rejectUnauthorized: true });
    expect((await post(fusionClient(url, client), '/api/v1/pipe/sessions', { pipe_id: 'p' })).ok).to.equal(true);
    expect(seen[0]).to.include({ clientCertificate: 'node-1', apiKey: 'receiver-key', body: '{"pipe_id":"p"}' });
    const anonymous = await post(fusionClient(url, { ca: pki.pem.ca }), '/api/v1/pipe/sessions');
    expect(!anonymous.ok && anonymous.failure).to.deep.include({ kind: 'transient' });
    expect(!anonymous.ok && anonymous.failure.message).to.match(/TLS handshake failed \(.*certificate required/i);
    expect(seen).to.have.length(1);
  });

  it('keeps its classification over https: Retry-After on 503, a timeout, and an abort that rejects with its reason', async () => {
    const url = await listen({ cert: pki.pem.serverCert, key: pki.pem.serverKey });
    const busy = await post(fusionClient(url, { ca: pki.pem.ca }), '/busy');
    expect(!busy.ok && busy.failure).to.deep.equal({ kind: 'transient', message: 'fusion POST /busy answered 503 unavailable: busy', retryAfterMs: 2_000 });

    const slow = await post(fusionClient(url, { ca: pki.pem.ca }, 150), '/slow');
    expect(!slow.ok && slow.failure).to.deep.equal({ kind: 'transient', message: 'fusion unreachable (POST /slow): request timed out' });

    const controller = new AbortController();
    const pending = post(fusionClient(url, { ca: pki.pem.ca }), '/slow', undefined, controller.signal);
    await eventually(() => seen.filter((s) => s.path === '/slow').length === 2);
    controller.abort(new Error('pipe stopped'));
    const reason = await pending.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    expect(reason).to.equal('pipe stopped');
  });
});
