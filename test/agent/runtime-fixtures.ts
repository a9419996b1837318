import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { validateConfig, type AgentConfig } from '../../shared/config/index.js';
import { defaultDriverRegistry, type DefaultDriverOptions } from '../../agent/runtime/driver-registry.js';
import { createPipeRuntime, type AgentPipeRuntime } from '../../agent/runtime/pipe-runtime.js';

export const silentLogger = pino({ level: process.env.FUSTOR_TEST_LOG ?? 'silent' });

/** A temporary directory, removed by `remove()`. */
export async function tempDir(prefix = 'fustor-runtime-'): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
  return { path: dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** Creates files (string content) and directories (null) under `root`; parents are made as needed. */
export async function writeTree(root: string, entries: Record<string, string | null>): Promise<void> {
  for (const [rel, content] of Object.entries(entries)) {
    const full = path.join(root, rel);
    if (content === null) await fs.mkdir(full, { recursive: true });
    else {
      await fs.mkdir(path.dirname(full), { recursive: true });
      await fs.writeFile(full, content);
    }
  }
}

export interface PipeSpec {
  root: string;
  url: string;
  key?: string;
  batch_size?: number;
  audit_interval_sec?: number;
  heartbeat_interval_sec?: number;
  max_consecutive_errors?: number;
  /** Pipe setting `realtime` (the driver's default, on, when absent). */
  realtime?: boolean;
}

/** A validated config with one fs source, one fusion sender and one pipe per entry of `pipes`. */
export function configFor(pipes: Record<string, PipeSpec>, agentId = 'agent-1'): AgentConfig {
  const document: Record<string, Record<string, unknown>> = { sources: {}, senders: {}, pipes: {} };
  for (const [id, spec] of Object.entries(pipes)) {
    document.sources![`${id}-src`] = { driver: 'fs', uri: spec.root };
    document.senders![`${id}-out`] = {
      driver: 'fusion',
      uri: spec.url,
      credential: { key: spec.key ?? 'test-receiver-key' },
      ...(spec.batch_size ? { batch_size: spec.batch_size } : {}),
    };
    document.pipes![id] = {
      source: `${id}-src`,
      sender: `${id}-out`,
      audit_interval_sec: spec.audit_interval_sec ?? 3600,
      ...(spec.realtime !== undefined ? { realtime: spec.realtime } : {}),
      ...(spec.heartbeat_interval_sec ? { heartbeat_interval_sec: spec.heartbeat_interval_sec } : {}),
      ...(spec.max_consecutive_errors ? { max_consecutive_errors: spec.max_consecutive_errors } : {}),
    };
  }
  const check = validateConfig({ agent_id: agentId, ...document }, { agentId });
  if (!check.ok) throw new Error(`test config invalid: ${JSON.stringify(check.errors)}`);
  return check.config;
}

/** Fast retry timings so failure tests take milliseconds. */
export const FAST_DRIVERS: DefaultDriverOptions = {
  fusion: { retryBaseMs: 5, retryCapMs: 40, requestTimeoutMs: 2_000, closeTimeoutMs: 500 },
};

export function fastRuntime(drivers: DefaultDriverOptions = FAST_DRIVERS): AgentPipeRuntime {
  return createPipeRuntime({
    agentId: 'agent-1',
    logger: silentLogger,
    registry: defaultDriverRegistry({ ...FAST_DRIVERS, ...drivers }),
    retry: { baseMs: 5, capMs: 40 },
  });
}
