import { expect } from 'chai';
import net from 'node:net';
import { CloseCode, eventually, RawAgentClient, startFusion, type TestFusion } from '../harness/index.js';

/** A raw TCP socket to Fusion; resolves `closed` when the server ends it. */
function rawSocket(url: string): Promise<{ socket: net.Socket; closed: () => boolean; received: () => string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let closed = false;
    let received = '';
    const socket = net.connect(Number(port), hostname, () => resolve({ socket, closed: () => closed, received: () => received }));
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => (closed = true));
    socket.once('error', reject);
  });
}

describe('security: connection limits before authentication', () => {
  let fusion: TestFusion;
  const sockets: net.Socket[] = [];
  const clients: RawAgentClient[] = [];

  beforeEach(async () => {
    fusion = await startFusion({ httpTimeouts: { headersMs: 300, requestMs: 1000, checkMs: 100 }, maxPendingPerAddress: 2, helloTimeoutMs: 1500 });
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  it('closes a connection that never sends its request headers, and one that trickles them', async () => {
    const silent = await rawSocket(fusion.url);
    const trickle = await rawSocket(fusion.url);
    sockets.push(silent.socket, trickle.socket);
    trickle.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => trickle.socket.writable && trickle.socket.write('X-Slow: y\r\n'), 50);
    try {
      await eventually(() => silent.closed() && trickle.closed(), { timeoutMs: 5000 });
    } finally {
      clearInterval(drip);
    }
    expect(trickle.received()).to.match(/^(HTTP\/1.1 408|$)/);
    expect((await fusion.api('/healthz')).status).to.equal(200);
  });

  it('caps connections from one address that have not said hello; hello frees the slot', async () => {
    const a = await RawAgentClient.connect(fusion.url, 'pending-a', fusion.enrollmentToken);
    const b = await RawAgentClient.connect(fusion.url, 'pending-b', fusion.enrollmentToken);
    clients.push(a, b);
    const refused = await RawAgentClient.connect(fusion.url, 'pending-c', fusion.enrollmentToken).catch((e: { status?: number }) => e.status);
    expect(refused).to.equal(429);
    await a.hello();
    const c = await RawAgentClient.connect(fusion.url, 'pending-c', fusion.enrollmentToken);
    clients.push(c);
    await c.hello();
  });

  it('caps connections from all addresses waiting for an answered hello; 429 with a retry hint, and an answered hello frees the slot', async () => {
    const busy = await startFusion({ maxPendingTotal: 2 });
    const mine: RawAgentClient[] = [];
    try {
      // Distinct ids from one address under a per-address cap far above the total one.
      mine.push(await RawAgentClient.connect(busy.url, 'total-a', busy.enrollmentToken), await RawAgentClient.connect(busy.url, 'total-b', busy.enrollmentToken));
      const refused = await RawAgentClient.connect(busy.url, 'total-c', busy.enrollmentToken).catch((e: { status?: number; message?: string }) => e);
      expect(refused).to.have.property('status', 429);
      await mine[0]!.hello();
      mine.push(await RawAgentClient.connect(busy.url, 'total-c', busy.enrollmentToken));
    } finally {
      for (const c of mine) c.terminate();
      await busy.stop();
    }
  });

  it('closes a socket that sends no hello within the hello timeout', async () => {
    const quiet = await RawAgentClient.connect(fusion.url, 'quiet', fusion.enrollmentToken);
    clients.push(quiet);
    expect(await quiet.closed(5000)).to.equal(CloseCode.ProtocolError);
  });
});

describe('security: refusals of bad frames are the documented close codes', () => {
  let fusion: TestFusion;

  beforeEach(async () => {
    fusion = await startFusion();
  });
  // Fusion closes the raw agents it connected when it stops.
  afterEach(() => fusion.stop());

  const connect = (id: string): Promise<RawAgentClient> => fusion.rawAgent(id);

  it('answers an oversized frame with an error frame and 4009, not the library 1009', async () => {
    const big = await connect('big');
    big.sendRaw(JSON.stringify({ type: 'status', pipes: [], pad: 'x'.repeat(5 * 1024 * 1024) }));
    const error = await big.next('error');
    expect(error.code).to.equal('frame_too_large');
    expect(await big.closed()).to.equal(CloseCode.FrameTooLarge);
  });

  it('answers invalid UTF-8 in a text frame with an error frame and 4000, not 1007', async () => {
    const bad = await connect('bad-utf8');
    bad.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    const error = await bad.next('error');
    expect(error.code).to.equal('protocol_error');
    expect(error.message).to.match(/UTF-8/);
    expect(await bad.closed()).to.equal(CloseCode.ProtocolError);
  });

  it('answers a 100k-deep frame and a __proto__ key with 4000, and keeps serving', async () => {
    const deep = await connect('deep');
    deep.sendRaw(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect((await deep.next('error')).message).to.match(/deeper than/);
    expect(await deep.closed()).to.equal(CloseCode.ProtocolError);
    const proto = await connect('proto');
    proto.sendRaw('{"type":"status","pipes":[],"__proto__":{"x":1}}');
    expect((await proto.next('error')).message).to.match(/__proto__/);
    expect(await proto.closed()).to.equal(CloseCode.ProtocolError);
    await connect('after');
  });
});
