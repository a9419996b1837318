/**
 * A whole Fustor deployment for end-to-end tests: a real Fusion on port 0
 * with a fusion.yaml of its own, real agents configured through the admin
 * API, and the HTTP queries an operator would make. Everything it starts or
 * creates is stopped and removed by `close()`.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Agent } from '../../agent/agent.js';
import { defaultDriverRegistry } from '../../agent/runtime/driver-registry.js';
import { createPipeRuntime } from '../../agent/runtime/pipe-runtime.js';
import { validateFusionConfig, writeFusionConfig, type FusionConfig } from '../../server/dataplane/index.js';
import { fastAgent } from '../agent/agent-fixture.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { AgentProcess } from './agent-process.js';

/** Receiver keys of the e2e fusion.yaml. */
export const KEYS = {
  /** Fusion pipe `pipe-a` → view `va` (steady receiver: 30 s session timeout). */
  a: 'e2e-key-a-0123456789',
  /** Fusion pipe `pipe-b` → view `vb` (steady receiver). */
  b: 'e2e-key-b-0123456789',
  /** Fusion pipe `pipe-s` → view `shared` (quick receiver: sessions end 1 s after their last sign of life). */
  shared: 'e2e-key-shared-0123456789',
} as const;

/** Seconds of silence after which a session of the quick receiver ends. */
export const QUICK_SESSION_TIMEOUT_SEC = 1;

/**
 * Two receivers: `steady`, whose long timeout means a session that ends within
 * a test was closed by its agent, and `quick`, for failover after a crash.
 */
export function e2eFusionConfig(): FusionConfig {
  const check = validateFusionConfig({
    receivers: {
      steady: {
        driver: 'http',
        session_timeout_seconds: 30,
        heartbeat_interval_seconds: 5,
        api_keys: [
          { key: KEYS.a, pipe_id: 'pipe-a' },
          { key: KEYS.b, pipe_id: 'pipe-b' },
        ],
      },
      quick: {
        driver: 'http',
        session_timeout_seconds: QUICK_SESSION_TIMEOUT_SEC,
        heartbeat_interval_seconds: 0.2,
        api_keys: [{ key: KEYS.shared, pipe_id: 'pipe-s' }],
      },
    },
    views: { va: { driver: 'fs' }, vb: { driver: 'fs' }, shared: { driver: 'fs' } },
    pipes: {
      'pipe-a': { receiver: 'steady', views: ['va'] },
      'pipe-b': { receiver: 'steady', views: ['vb'] },
      'pipe-s': { receiver: 'quick', views: ['shared'] },
    },
  });
  if (!check.ok) throw new Error(`e2e fusion config is invalid: ${JSON.stringify(check.errors)}`);
  return check.config;
}

/** One agent pipe: an fs source over `root` pushing with receiver key `key`. */
export interface PipeSpec {
  root: string;
  key: string;
  /** Default 0.3 s, so added and deleted files show up within a test. */
  audit_interval_sec?: number;
  /** Pipe setting `realtime` (on when absent). */
  realtime?: boolean;
}

/** A tree node as `GET /views/:id/tree` answers it. */
export interface TreeNode {
  name: string;
  path: string;
  type: string;
  size: number;
  children?: TreeNode[];
}

export interface CommandRecord {
  id: string;
  status: string;
  // The output's shape depends on the command type.
  output: any;
  error: string | null;
}

/** Sender and pipe retries in milliseconds, so a refusal or a lost session costs a test nothing. */
const fastRuntime = ({ agentId, logger }: { agentId: string; logger: Logger }) =>
  createPipeRuntime({
    agentId,
    logger,
    registry: defaultDriverRegistry({ fusion: { retryBaseMs: 10, retryCapMs: 100, requestTimeoutMs: 5_000, closeTimeoutMs: 1_000 } }),
    retry: { baseMs: 10, capMs: 100 },
  });

export class DataPlaneWorld {
  private readonly agents: Agent[] = [];
  private readonly processes: AgentProcess[] = [];

  private constructor(
    readonly fusion: TestFusion,
    /** Holds Fusion's home, the agents' homes and the data trees. */
    readonly dir: string,
  ) {}

  static async start(): Promise<DataPlaneWorld> {
    const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'fustor-e2e-')));
    try {
      const home = path.join(dir, 'fusion');
      await writeFusionConfig(home, e2eFusionConfig());
      return new DataPlaneWorld(await startFusion({ home }), dir);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** An in-process agent with fast reconnects and fast sender retries; not started. */
  agent(agentId: string): Agent {
    const agent = fastAgent(path.join(this.dir, 'agents', agentId), {
      agentId,
      controlPlaneUri: this.fusion.url,
      authToken: this.fusion.enrollmentToken,
      runtime: fastRuntime,
    });
    this.agents.push(agent);
    return agent;
  }

  /** An agent run by the `fustor-agent` CLI in a child process (so a test can SIGKILL it); started. */
  async agentProcess(agentId: string): Promise<AgentProcess> {
    const child = await AgentProcess.start({
      home: path.join(this.dir, 'agents', agentId),
      agentId,
      controlPlaneUri: this.fusion.url,
      authToken: this.fusion.enrollmentToken,
    });
    this.processes.push(child);
    return child;
  }

  /** A fresh directory under the world's temp dir. */
  async mkdir(name: string): Promise<string> {
    const dir = path.join(this.dir, 'data', name);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** An agent config document: one fs source and one fusion sender per pipe. */
  configDoc(pipes: Record<string, PipeSpec>): Record<string, unknown> {
    const sources: Record<string, unknown> = {};
    const senders: Record<string, unknown> = {};
    const pipeEntries: Record<string, unknown> = {};
    for (const [id, spec] of Object.entries(pipes)) {
      sources[`${id}-src`] = { driver: 'fs', uri: spec.root };
      senders[`${id}-out`] = { driver: 'fusion', uri: this.fusion.url, credential: { key: spec.key }, batch_size: 100 };
      pipeEntries[id] = {
        source: `${id}-src`,
        sender: `${id}-out`,
        audit_interval_sec: spec.audit_interval_sec ?? 0.3,
        ...(spec.realtime !== undefined ? { realtime: spec.realtime } : {}),
      };
    }
    return { sources, senders, pipes: pipeEntries };
  }

  /** Saves the desired config of `agentId` through the admin API (Fusion pushes it to a connected agent). */
  async pushConfig(agentId: string, pipes: Record<string, PipeSpec>): Promise<{ revision: number; signature: string }> {
    const res = await this.fusion.api(`/api/v1/management/agents/${agentId}/config/structured`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(this.configDoc(pipes)),
    });
    expect(res.status, await res.clone().text()).to.equal(201);
    return (await res.json()) as { revision: number; signature: string };
  }

  /** A view query with the given receiver key; expects 200. */
  async view<T>(viewId: string, what: string, key: string): Promise<T> {
    const res = await fetch(`${this.fusion.url}/api/v1/views/${viewId}/${what}`, { headers: { 'x-api-key': key } });
    expect(res.status, `${what}: ${await res.clone().text()}`).to.equal(200);
    return (await res.json()) as T;
  }

  /** Every path the view holds, sorted, with the size of each file (`path:size`) and directories as `path/`. */
  async listing(viewId: string, key: string): Promise<string[]> {
    const root = await this.view<TreeNode>(viewId, 'tree?path=&recursive=true', key);
    const out: string[] = [];
    const walk = (node: TreeNode): void => {
      if (node.path !== '') out.push(node.type === 'dir' ? `${node.path}/` : `${node.path}:${node.size}`);
      for (const child of node.children ?? []) walk(child);
    };
    walk(root);
    return out.sort();
  }

  /** The sessions feeding a view, as `[agent_id, agent_pipe_id, role]`, oldest first. */
  async sessions(viewId: string, key: string): Promise<Array<[string, string, string]>> {
    const body = await this.view<{ sessions: Array<{ agent_id: string; agent_pipe_id: string; role: string }> }>(viewId, 'sessions', key);
    return body.sessions.map((s) => [s.agent_id, s.agent_pipe_id, s.role]);
  }

  /** What the management API shows for an agent. */
  async agentView(agentId: string): Promise<any> {
    const res = await this.fusion.api(`/api/v1/management/agents/${agentId}`);
    expect(res.status).to.equal(200);
    return res.json();
  }

  /** Sends a command through the admin API and waits until it is terminal. */
  async command(agentId: string, type: string, args: Record<string, unknown>): Promise<CommandRecord> {
    const res = await this.fusion.api(`/api/v1/management/agents/${agentId}/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type, args }),
    });
    expect(res.status, await res.clone().text()).to.equal(202);
    const { id } = (await res.json()) as CommandRecord;
    const done = await this.fusion.api(`/api/v1/management/commands/${id}?wait=10`);
    return (await done.json()) as CommandRecord;
  }

  /** Stops every agent and child process, then Fusion, then removes every directory. */
  async close(): Promise<void> {
    try {
      await Promise.all(this.processes.splice(0).map((p) => p.kill()));
      for (const agent of this.agents.splice(0)) await agent.stop();
      await this.fusion.stop();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}
