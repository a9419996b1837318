import { expect } from 'chai';
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { jsonBody } from '../../server/http/json-body.js';
import { HttpError } from '../../server/http/errors.js';

describe('jsonBody: the walk of a parsed body', () => {
  let server: Server;
  let base: string;

  before(async () => {
    const app = express();
    const router = express.Router();
    // As the ingest router mounts them: one route reads its body unwalked, a walking parser follows for every route.
    router.post('/unwalked', jsonBody('1mb', { walk: false }));
    router.use(jsonBody('1mb'));
    router.post('/unwalked', (req, res) => res.json({ keys: Object.keys(req.body as object) }));
    router.post('/walked', (req, res) => res.json({ keys: Object.keys(req.body as object) }));
    app.use(router);
    app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      const status = err instanceof HttpError ? err.status : 500;
      res.status(status).json({ error: { code: err instanceof HttpError ? err.code : 'internal', message: (err as Error).message } });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const post = (path: string, body: string) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const body = '{"events":[{"op":"upsert","constructor":1}]}';

  it('walks the body of a route that did not opt out, and refuses a reserved key with 400 naming it', async () => {
    const res = await post('/walked', body);
    expect(res.status).to.equal(400);
    const answer = (await res.json()) as { error: { code: string; message: string } };
    expect(answer.error.code).to.equal('reserved_key');
    expect(answer.error.message).to.include('events.0.constructor');
  });

  it('leaves the body of a `walk: false` route to its handler, though a walking parser is mounted after it', async () => {
    const res = await post('/unwalked', body);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ keys: ['events'] });
  });
});
