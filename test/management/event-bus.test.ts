import { expect } from 'chai';
import pino from 'pino';
import { EventBus } from '../../server/events/event-bus.js';
import type { FusionEvent } from '../../server/events/event-types.js';

const offline = (n: number) => ({ agent_id: `node-${n}`, session_id: `s-${n}`, code: 1000 });

describe('event bus', () => {
  it('numbers events from 1 and hands each to every subscriber until it unsubscribes', () => {
    const bus = new EventBus(pino({ level: 'silent' }));
    const a: FusionEvent[] = [];
    const b: FusionEvent[] = [];
    const stopA = bus.subscribe((e) => a.push(e));
    bus.subscribe((e) => b.push(e));
    bus.publish('agent.offline', offline(1));
    stopA();
    bus.publish('agent.offline', offline(2));
    expect(a.map((e) => e.id)).to.deep.equal([1]);
    expect(b.map((e) => e.id)).to.deep.equal([1, 2]);
    expect(b[1]).to.deep.include({ type: 'agent.offline', data: offline(2) });
    expect(b[1]!.at).to.be.a('number');
    expect(bus.lastEventId).to.equal(2);
  });

  it('keeps publishing to the others when a listener throws', () => {
    const lines: string[] = [];
    const bus = new EventBus(pino({ level: 'error' }, { write: (line: string) => lines.push(line) }));
    const seen: number[] = [];
    bus.subscribe(() => {
      throw new Error('boom');
    });
    bus.subscribe((e) => seen.push(e.id));
    expect(() => bus.publish('agent.offline', offline(1))).to.not.throw();
    expect(seen).to.deep.equal([1]);
    expect(lines.join('')).to.include('event listener failed');
  });

  it('replays the events after an id, and says so when they are no longer kept', () => {
    const bus = new EventBus(pino({ level: 'silent' }), 3);
    for (let i = 1; i <= 5; i++) bus.publish('agent.offline', offline(i));
    expect(bus.since(5)).to.deep.equal([]);
    expect(bus.since(9)).to.deep.equal([]);
    expect(bus.since(3)!.map((e) => e.id)).to.deep.equal([4, 5]);
    expect(bus.since(2)!.map((e) => e.id)).to.deep.equal([3, 4, 5]);
    expect(bus.since(1)).to.equal(undefined);
    expect(new EventBus(pino({ level: 'silent' })).since(0)).to.deep.equal([]);
  });

  it('runs close hooks once, drops listeners and ignores later publishes', () => {
    const bus = new EventBus(pino({ level: 'silent' }));
    let hooks = 0;
    const seen: number[] = [];
    bus.subscribe((e) => seen.push(e.id));
    bus.onClose(() => hooks++);
    const removed = bus.onClose(() => hooks += 10);
    removed();
    bus.close();
    bus.close();
    expect(hooks).to.equal(1);
    expect(bus.publish('agent.offline', offline(1))).to.equal(undefined);
    expect(seen).to.deep.equal([]);
    expect(bus.subscriberCount).to.equal(0);
  });
});
