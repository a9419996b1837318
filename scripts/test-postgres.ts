/**
 * `npm run test:postgres` (the second half of `npm test`): the server-side
 * suites again, with every Fusion they start keeping its state in PostgreSQL
 * (FUSION_TEST_DATABASE=postgres: a schema per Fusion home in a database
 * created for the run and dropped after it). Without a PostgreSQL to reach it
 * says so and passes, as the browser tests do without a browser; in CI
 * (`CI` set) that is a failure. FUSION_TEST_POSTGRES_URL names the server.
 */
import { spawnSync } from 'node:child_process';
import { postgresUnavailable } from '../test/harness/postgres.js';

/** What runs on both databases: everything that starts a Fusion and stores through it. */
const SUITES = ['test/server', 'test/groups', 'test/management', 'test/security', 'test/upgrade', 'test/cli', 'test/chaos', 'test/agent', 'test/e2e', 'test/harness'];

const why = await postgresUnavailable();
if (why !== undefined) {
  if (process.env.CI) {
    console.error(`PostgreSQL suites cannot run in CI: ${why}`);
    process.exit(1);
  }
  console.warn(`PostgreSQL suites skipped: ${why} (start PostgreSQL or set FUSION_TEST_POSTGRES_URL)`);
  process.exit(0);
}
const args = process.argv.slice(2);
const result = spawnSync('npx', ['mocha', '--no-config', '--node-option', 'import=tsx', '--node-option', 'conditions=fustor-source', '--timeout', '20000', '--recursive', ...(args.length > 0 ? args : SUITES.map((s) => `${s}/**/*.test.ts`))], {
  stdio: 'inherit',
  env: { ...process.env, FUSION_TEST_DATABASE: 'postgres' },
});
process.exit(result.status ?? 1);
