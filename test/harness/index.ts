/**
 * Fustor's test harness (`import ... from 'fustor/testing'`): what the
 * project's own tests use to drive a real Fusion and real or raw agents.
 *
 * - {@link startFusion}: Fusion in this process on 127.0.0.1, port 0, with a
 *   temporary home, known tokens and fast heartbeats; `api()` / `json()` call
 *   it as admin, `rawAgent()` connects a raw protocol client it closes on stop.
 * - {@link FusionProcess}: Fusion in a child process, for tests that kill it.
 * - {@link startAgent}: a real in-process `Agent` with millisecond backoff.
 * - {@link RawAgentClient}: a protocol client that sends and awaits typed
 *   frames from `shared/protocol`, and can send malformed ones.
 * - {@link eventually}: waits for a condition instead of sleeping.
 * - {@link tempHome}, {@link makeCerts}, {@link sampleConfig}: temporary
 *   directories, throw-away TLS certificates, valid agent configs.
 * - everything of `shared/protocol` (frame schemas and types, codes, codec)
 *   and `shared/config` (validation, signature, patch), to build frames with.
 *
 * Every handle has a `stop()` (or `close()` / `remove()`): call it in
 * `afterEach` so the suite leaves no server, socket, timer or directory behind.
 * See docs/harness.md, and `test/harness/example.test.ts`.
 */
export { startFusion, TEST_ADMIN_TOKEN, TEST_ENROLLMENT_TOKEN, type TestFusion } from './fusion.js';
export { FusionProcess } from './fusion-process.js';
export { startAgent, type AgentTarget, type StartAgentOptions, type TestAgent } from './start-agent.js';
export { RawAgentClient } from './raw-client.js';
export { eventually } from './eventually.js';
export { tempHome } from './temp-home.js';
export { makeCerts, type TestCerts } from './certs.js';
export { sampleConfig, sampleYaml } from './sample-config.js';
export * from './protocol-imports.js';
export { createTempDatabase, postgresUnavailable, requirePostgres, withTempPostgres, TEST_POSTGRES_URL, type TempDatabase } from './postgres.js';
