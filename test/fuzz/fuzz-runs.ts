import fc from 'fast-check';

/**
 * Runs per property: modest by default so the suite stays fast; raise it with
 * FUSTOR_FUZZ_RUNS (e.g. `FUSTOR_FUZZ_RUNS=2000 npx mocha test/fuzz`) to
 * search harder. FUSTOR_FUZZ_SEED replays a reported failure.
 */
export function fuzzParameters(defaultRuns: number): fc.Parameters<unknown> {
  const runs = Number(process.env.FUSTOR_FUZZ_RUNS ?? defaultRuns);
  const seed = process.env.FUSTOR_FUZZ_SEED;
  return { numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns, ...(seed ? { seed: Number(seed) } : {}) };
}

/** Names an attacker likes: inherited properties of Object.prototype, and near misses. */
export const hostileName = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'src', 'out', 'p1', '', ' ', 'a'.repeat(200));

/** JSON-ish values with hostile keys mixed in, nested a little. */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.oneof(hostileName, fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 4 }),
    fc.array(tie('value'), { maxLength: 4 }),
  ),
})).value;

/** Text that is often almost YAML or JSON: fragments of the real thing, glued at random. */
export const documentText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(
    fc.oneof(
      fc.constantFrom('sources:', 'senders:', 'pipes:', 'receivers:', 'views:', '\n', '  ', '- ', ': ', '{', '}', '[', ']', '&a', '*a', '<<: *a', '"', "'", '#', '---', '\t', '__proto__', 'constructor', '${x}', 'driver: fs', 'uri: /tmp'),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 40 },
  ).map((parts) => parts.join('')),
  hostileValue.map((v) => JSON.stringify(v) ?? 'null'),
);
