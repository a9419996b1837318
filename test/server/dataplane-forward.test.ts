import { expect } from 'chai';
import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { forwardDataPlane, FORWARDED_HEADER, HOLDER_HEADER, type DataPlaneHolder } from '../../server/dataplane/index.js';

/** A holder that is elsewhere (or nowhere), as a replica without the data-plane lease sees it. */
function elsewhere(url: string | undefined): DataPlaneHolder & { forgotten: number } {
  return {
    serving: false,
    forgotten: 0,
    holderUrl: () => Promise.resolve(url),
    forget() {
      this.forgotten++;
    },
    stop: () => Promise.resolve(),
  };
}

async function listen(app: express.Express): Promise<{ server: Server; url: string }> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('forwarding data-plane requests to the replica that serves them', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
  });
  const replica = async (holder: DataPlaneHolder): Promise<string> => {
    const app = express();
    app.use('/api/v1/pipe', forwardDataPlane({ holder, replicaId: 'r-2', log: pino({ level: 'silent' }) }));
    app.use('/api/v1/pipe', (_req, res) => res.status(418).json({ served: 'here' }));
    const { server, url } = await listen(app);
    servers.push(server);
    return url;
  };

  it('streams the request (method, path, query, headers, body) to the holder and its answer back', async () => {
    const seen: Array<{ method: string; url: string; headers: Record<string, unknown>; bytes: number }> = [];
    const upstream = express();
    upstream.use((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.originalUrl, headers: req.headers, bytes });
        res.status(201).setHeader('x-answer', 'yes').json({ bytes });
      });
    });
    const holder = await listen(upstream);
    servers.push(holder.server);
    const url = await replica(elsewhere(holder.url));
    const body = 'x'.repeat(3 * 1024 * 1024);
    const res = await fetch(`${url}/api/v1/pipe/sessions/s-1/events?x=1`, { method: 'POST', headers: { 'x-api-key': 'k', 'content-type': 'application/json' }, body });
    expect(res.status).to.equal(201);
    expect(res.headers.get('x-answer')).to.equal('yes');
    expect(res.headers.get(HOLDER_HEADER)).to.equal(holder.url);
    expect(await res.json()).to.deep.equal({ bytes: body.length });
    expect(seen).to.have.length(1);
    expect(seen[0]).to.include({ method: 'POST', url: '/api/v1/pipe/sessions/s-1/events?x=1', bytes: body.length });
    expect(seen[0]!.headers).to.include({ 'x-api-key': 'k', [FORWARDED_HEADER]: 'r-2', 'x-forwarded-for': '127.0.0.1', host: new URL(holder.url).host });
  });

  it('answers 503 with Retry-After when the holder cannot be reached, is not known, or would forward again', async () => {
    const closed = await listen(express());
    await new Promise((resolve) => closed.server.close(resolve));
    const gone = elsewhere(closed.url);
    const unreachable = await fetch(`${await replica(gone)}/api/v1/pipe/sessions`, { method: 'POST', body: '{}' });
    expect(unreachable.status).to.equal(503);
    expect(unreachable.headers.get('retry-after')).to.equal('1');
    const body = (await unreachable.json()) as any;
    expect(body.error.code).to.equal('dataplane_unavailable');
    expect(body.error.details.holder_url).to.equal(closed.url);
    expect(gone.forgotten).to.equal(1);

    const unknown = await fetch(`${await replica(elsewhere(undefined))}/api/v1/pipe/sessions`, { method: 'POST', body: '{}' });
    expect(unknown.status).to.equal(503);
    expect(((await unknown.json()) as any).error.message).to.equal('no replica serves the data plane yet');

    const again = await fetch(`${await replica(elsewhere('http://127.0.0.1:9'))}/api/v1/pipe/sessions`, { method: 'POST', headers: { [FORWARDED_HEADER]: 'r-1' }, body: '{}' });
    expect(again.status).to.equal(503);
    expect(((await again.json()) as any).error.code).to.equal('dataplane_unavailable');
  });

  it('lets the holder answer itself', async () => {
    const here = await fetch(`${await replica({ ...elsewhere(undefined), serving: true })}/api/v1/pipe/sessions`, { method: 'POST', body: '{}' });
    expect(here.status).to.equal(418);
    await here.arrayBuffer();
  });
});
