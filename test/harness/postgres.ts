import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server tests create their databases on: FUSION_TEST_POSTGRES_URL,
 * default postgres://postgres@127.0.0.1:5432/postgres (a maintenance database
 * the test user may CREATE DATABASE from).
 */
export const TEST_POSTGRES_URL = process.env.FUSION_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database of its own for one test or suite; `drop()` removes it. */
export interface TempDatabase {
  /** Connection URL of the new database. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Runs `work` on one short-lived connection to the maintenance database. */
async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000, application_name: 'fusion-tests' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why PostgreSQL cannot be used for tests, or undefined when it answers. */
export async function postgresUnavailable(): Promise<string | undefined> {
  try {
    await withAdmin((client) => client.query('SELECT 1'));
    return undefined;
  } catch (err) {
    return `${TEST_POSTGRES_URL.replace(/:[^:@/]*@/, ':***@')}: ${err instanceof Error ? err.message || err.constructor.name : String(err)}`;
  }
}

/** Creates `fusion_test_<random>` on the test server. */
export async function createTempDatabase(): Promise<TempDatabase> {
  const name = `fusion_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin(async (client) => {
        // A pool a test forgot to close must not keep the database alive.
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    },
  };
}

/**
 * Skips the calling suite (from a `before` hook) when PostgreSQL does not
 * answer, saying why; in CI (`CI` set) it fails instead, since CI starts
 * PostgreSQL and must run these tests.
 */
export async function requirePostgres(context: { skip(): void }): Promise<void> {
  const why = await postgresUnavailable();
  if (why === undefined) return;
  if (process.env.CI) throw new Error(`PostgreSQL tests cannot run in CI: ${why}`);
  console.warn(`    PostgreSQL tests skipped: ${why} (start PostgreSQL or set FUSION_TEST_POSTGRES_URL)`);
  context.skip();
}

/**
 * A fresh database for every test of the calling `describe`: registers the
 * hooks and returns a handle whose `url` is the current test's database.
 * The suite is skipped (outside CI) when PostgreSQL does not answer.
 */
export function withTempPostgres(): { readonly url: string } {
  const { before, beforeEach, afterEach } = mochaHooks();
  let current: TempDatabase | undefined;
  before(async function () {
    await requirePostgres(this);
  });
  beforeEach(async () => {
    current = await createTempDatabase();
  });
  afterEach(async () => {
    await current?.drop();
    current = undefined;
  });
  return {
    get url(): string {
      if (current === undefined) throw new Error('withTempPostgres: no database outside a test');
      return current.url;
    },
  };
}

type Hook = (fn: (this: { skip(): void }) => Promise<void>) => void;

/** Mocha's BDD hooks, read from the globals it defines (the harness builds without mocha's types). */
function mochaHooks(): { before: Hook; beforeEach: Hook; afterEach: Hook } {
  const hooks = globalThis as unknown as Partial<Record<'before' | 'beforeEach' | 'afterEach', Hook>>;
  if (!hooks.before || !hooks.beforeEach || !hooks.afterEach) throw new Error('withTempPostgres() is called inside a mocha describe()');
  return { before: hooks.before, beforeEach: hooks.beforeEach, afterEach: hooks.afterEach };
}
