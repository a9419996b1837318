import { expect } from 'chai';
import fc from 'fast-check';
import { checkEventsBody, EventsBody, isCleanRelativePath } from '../../server/dataplane/index.js';

/** The hand-written check of an events body must accept exactly what the schema accepts. */
describe('dataplane records: the fast events check', () => {
  const segment = fc.constantFrom('a', 'b c', '.', '..', '', 'x.txt', '\0', 'é', '.hidden');
  const path = fc.oneof(fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/')), fc.string({ maxLength: 12 }), fc.constant(''));
  const num = fc.oneof(fc.integer({ min: -5, max: 1e6 }), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 2), fc.constant(Number.NaN));
  const record = fc.record(
    {
      op: fc.constantFrom('upsert', 'delete', 'move'),
      path,
      type: fc.constantFrom('file', 'dir', 'symlink', 'other', 'fifo'),
      size: num,
      mtime_ms: fc.oneof(num, fc.constant(Number.POSITIVE_INFINITY), fc.constant('1')),
      mode: num,
    },
    { requiredKeys: ['op', 'path', 'type', 'size', 'mode'] },
  );
  const scan = fc.option(fc.record({ id: fc.constantFrom('s1', ''), done: fc.boolean(), path, recursive: fc.boolean() }, { requiredKeys: ['id'] }), { nil: undefined });

  it('agrees with the EventsBody schema on every body', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 4 }), scan, (events, marker) => {
        const body = marker === undefined ? { events } : { events, scan: marker };
        const fast = checkEventsBody(body) !== null;
        expect(fast, JSON.stringify(body)).to.equal(EventsBody.safeParse(body).success);
      }),
      { numRuns: 3000 },
    );
  });

  it('checks paths segment by segment', () => {
    for (const good of ['a', 'a/b', 'a.b/..c', '...', 'a/.x']) expect(isCleanRelativePath(good), good).to.equal(true);
    for (const bad of ['/a', 'a/', 'a//b', '.', '..', 'a/./b', 'a/../b', 'a\0b', '']) expect(isCleanRelativePath(bad), bad).to.equal(false);
  });
});
