import { expect } from 'chai';
import { FUSION_EVENT_TYPES } from '../../server/events/event-types.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';

/** The web UI's live-events module; a plain browser script, loaded untyped. */
const LIVE_JS = new URL('../../ui/js/live.js', import.meta.url).href;

/** Stands in for the browser's EventSource: records the URL and the event types listened to. */
class FakeEventSource {
  static readonly CLOSED = 2;
  static made: FakeEventSource[] = [];
  readonly types: string[] = [];
  readyState = 0;
  constructor(readonly url: string) {
    FakeEventSource.made.push(this);
  }
  addEventListener(type: string): void {
    this.types.push(type);
  }
  close(): void {
    this.readyState = FakeEventSource.CLOSED;
  }
}

describe('event types: one list, served by Fusion and used by the web UI', function () {
  this.timeout(20_000);
  let fusion: TestFusion;

  before(async () => {
    fusion = await startFusion();
  });
  after(async () => {
    await fusion.stop();
  });

  it('serves every event type of the event map once, to any admin token', async () => {
    const res = await fusion.api('/api/v1/management/event-types');
    expect(res.status).to.equal(200);
    const { types } = (await res.json()) as { types: string[] };
    expect(types).to.deep.equal([...FUSION_EVENT_TYPES]);
    expect(new Set(types).size).to.equal(types.length);
    expect(types).to.include.members(['agent.online', 'agent.pipes', 'command.transition', 'fusion.config_applied']);

    const anonymous = await fetch(`${fusion.url}/api/v1/management/event-types`);
    expect(anonymous.status).to.equal(401);
    await anonymous.arrayBuffer();
  });

  describe("the UI's live.js", () => {
    const realFetch = globalThis.fetch;
    const globals = globalThis as unknown as Record<string, unknown>;

    beforeEach(() => {
      FakeEventSource.made = [];
      // live.js runs in the page, with relative URLs and the browser's EventSource.
      globals.fetch = (path: string, init?: RequestInit) => realFetch(path.startsWith('/') ? `${fusion.url}${path}` : path, init);
      globals.EventSource = FakeEventSource;
    });
    afterEach(() => {
      globals.fetch = realFetch;
      delete globals.EventSource;
    });

    it('listens for exactly the types Fusion serves', async () => {
      const { LiveEvents } = (await import(LIVE_JS)) as { LiveEvents: new (options: object) => { connect(token: string): void; close(): void } };
      const states: string[] = [];
      const live = new LiveEvents({ onState: (s: string) => states.push(s), onUnauthorized: () => states.push('unauthorized') });
      live.connect(fusion.adminToken);
      const source = await eventually(() => FakeEventSource.made[0]);
      expect(source.url).to.match(/^\/api\/v1\/management\/events\?access_token=/);
      const served = ((await (await fusion.api('/api/v1/management/event-types')).json()) as { types: string[] }).types;
      expect(source.types.filter((t) => !['ready', 'resync', 'error'].includes(t))).to.deep.equal(served);
      live.close();
      expect(states).to.deep.equal(['connecting', 'offline']);
    });

    it('listens for a type the server adds, with no change to the UI', async () => {
      const served = ((await (await fusion.api('/api/v1/management/event-types')).json()) as { types: string[] }).types;
      const withNew = [...served, 'agent.new_kind'];
      const upstream = globals.fetch as typeof fetch;
      globals.fetch = (path: string, init?: RequestInit) =>
        path === '/api/v1/management/event-types' ? Promise.resolve(Response.json({ types: withNew })) : upstream(path, init);
      const { LiveEvents } = (await import(LIVE_JS)) as { LiveEvents: new (options: object) => { connect(token: string): void; close(): void } };
      const live = new LiveEvents({ onState: () => undefined, onUnauthorized: () => undefined });
      live.connect(fusion.adminToken);
      const source = await eventually(() => FakeEventSource.made[0]);
      expect(source.types.filter((t) => !['ready', 'resync', 'error'].includes(t))).to.deep.equal(withNew);
      live.close();
    });

    it('opens no stream and asks to sign in again when the token is refused', async () => {
      const { LiveEvents } = (await import(LIVE_JS)) as { LiveEvents: new (options: object) => { connect(token: string): void; close(): void } };
      let unauthorized = 0;
      const live = new LiveEvents({ onState: () => undefined, onUnauthorized: () => unauthorized++ });
      live.connect('not-a-token');
      await eventually(() => unauthorized === 1);
      expect(FakeEventSource.made).to.deep.equal([]);
      live.close();
    });
  });
});
