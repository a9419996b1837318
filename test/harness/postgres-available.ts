import pg from 'pg';

/** The server tests that need PostgreSQL use (FUSION_TEST_POSTGRES_URL; default the local trust-auth server). */
export const TEST_POSTGRES_URL = process.env.FUSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let answer: Promise<string | undefined> | undefined;

/** Whether PostgreSQL answers at TEST_POSTGRES_URL (asked once per run): the reason when it does not. */
export function postgresUnavailable(): Promise<string | undefined> {
  answer ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return answer;
}

/**
 * The PostgreSQL URL for a suite that needs one. Without PostgreSQL the suite
 * is skipped with a message, except in CI, where it fails: there both
 * backends must run.
 */
export async function postgresUrlOrSkip(context: { skip(): void }): Promise<string> {
  const reason = await postgresUnavailable();
  if (reason !== undefined) {
    if (process.env.CI) throw new Error(`PostgreSQL is needed in CI and does not answer at ${TEST_POSTGRES_URL}: ${reason}`);
    console.warn(`    PostgreSQL tests skipped: ${TEST_POSTGRES_URL} does not answer (${reason})`);
    context.skip();
  }
  return TEST_POSTGRES_URL;
}
