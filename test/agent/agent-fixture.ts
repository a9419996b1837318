/**
 * Helpers shared by the agent tests: fast agents, logs a test can read, and
 * config documents signed the way Fusion signs them.
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { configSignature, validateConfig, type AgentConfig } from '../../shared/config/index.js';
import { Agent, type AgentOptions } from '../../agent/agent.js';

export const AGENT_ID = 'node-1';

/** A logger that keeps every line as an object, for tests that check warnings. */
export function memoryLogger(level: pino.LevelWithSilent = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

export function silentLogger(): Logger {
  return pino({ level: process.env.FUSTOR_TEST_LOG ?? 'silent' });
}

/** An agent with millisecond backoffs and a short start-up wait. */
export function fastAgent(home: string, options: Partial<AgentOptions> = {}): Agent {
  return new Agent({
    home,
    agentId: AGENT_ID,
    connectTimeoutMs: 300,
    backoff: { baseMs: 20, capMs: 100, stableAfterMs: 60_000 },
    logger: silentLogger(),
    ...options,
  });
}

/**
 * A valid config with `sources` fs sources under `root` (which must exist for
 * pipes to start) and no pipes unless `pipes` maps a pipe id to a source id.
 */
export function configDoc(root: string, options: { sources?: string[]; pipes?: Record<string, string> } = {}): Record<string, unknown> {
  const sources = Object.fromEntries((options.sources ?? ['src']).map((id) => [id, { driver: 'fs', uri: root }]));
  const pipes = Object.fromEntries(Object.entries(options.pipes ?? {}).map(([id, source]) => [id, { source, sender: 'out' }]));
  return {
    sources,
    senders: { out: { driver: 'fusion', uri: 'http://127.0.0.1:1', credential: { key: 'test-key' } } },
    pipes,
  };
}

/** The document normalised as Fusion stores it, and its signature. */
export function signed(document: Record<string, unknown>): { document: AgentConfig & Record<string, unknown>; signature: string } {
  const checked = validateConfig(document);
  if (!checked.ok) throw new Error(`test config is invalid: ${JSON.stringify(checked.errors)}`);
  return { document: checked.config as AgentConfig & Record<string, unknown>, signature: configSignature(checked.config) };
}

/** mulberry32: a small seeded PRNG, so shuffles in tests are the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random source that keeps a list in the order written (Fisher-Yates with j = i at every step). */
export const AS_WRITTEN = (): number => 0.999_999;
