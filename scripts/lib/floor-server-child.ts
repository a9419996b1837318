/**
 * The protocol floor: the least a server can do to take N simulated agents
 * through a config change over Fusion's protocol. It answers `hello` with
 * `welcome` and the agent's full config, and on `broadcast` sends each agent a
 * config frame planned and encoded before the clock starts, reading the
 * replies with nothing but JSON.parse. No authentication, no database, no
 * rendering, no validation, no rollout: what remains is the transport and the
 * agents' own work (decode, apply the patch, check the signature, ACK). Put
 * beside Fusion and the bare echo, it splits the fan-out time into what the
 * protocol costs and what Fusion adds.
 */
import { performance } from 'node:perf_hooks';
import type { WebSocket, WebSocketServer } from 'ws';
import { closeLoopback, listenLoopback } from './loopback-ws-server.js';
import { configSignature, parseDocumentText, validateConfig } from '../../shared/config/index.js';
import { PROTOCOL_VERSION, encodeFrame } from '../../shared/protocol/index.js';
import { planConfigFrame } from '../../server/config/config-plan.js';
import { serveRpc } from './child-rpc.js';
import { fleetTemplate } from './group-api.js';

interface FloorAgent {
  ws: WebSocket;
  agentId: string;
  /** The config it was last sent. */
  signature: string;
  document: Record<string, unknown>;
  /** Encoded frame of the next broadcast, planned by `prepare`. */
  next?: { text: string; signature: string; document: Record<string, unknown> };
}

export interface FloorBroadcastResult {
  agents: number;
  applied: number;
  /** Replies other than `applied` of the target (e.g. `applying`), read and counted. */
  otherReplies: number;
  sendMs: number;
  /** Time from the first send to each agent's `applied`, ms, in arrival order. */
  latencies: number[];
}

let wss: WebSocketServer | null = null;
const agents = new Map<WebSocket, FloorAgent>();
/** The config every agent gets at hello (what the Fusion run started its fleet on). */
let policy = { audit: 300, perAgent: true };
let revision = 1;
let collect: ((agent: FloorAgent, reply: { type?: string; status?: string; signature?: string }) => void) | null = null;

/** The normalised document of the bench template for one agent (untimed: called before a broadcast). */
function documentFor(agentId: string, audit: number, perAgent: boolean): Record<string, unknown> {
  const parsed = parseDocumentText(fleetTemplate(audit, perAgent).replaceAll('${agent_id}', agentId), 'yaml');
  if (!parsed.ok) throw new Error('the bench template does not parse');
  const checked = validateConfig(parsed.value, { agentId });
  if (!checked.ok) throw new Error(`the bench template does not validate: ${checked.errors.map((e) => e.message).join('; ')}`);
  return checked.config as Record<string, unknown>;
}

function onHello(ws: WebSocket, agentId: string): void {
  const document = documentFor(agentId, policy.audit, policy.perAgent);
  const signature = configSignature(document);
  agents.set(ws, { ws, agentId, signature, document });
  ws.send(encodeFrame({ type: 'welcome', session_id: `floor-${agentId}`, protocol_version: PROTOCOL_VERSION, heartbeat_interval_ms: 600_000 }));
  ws.send(encodeFrame({ type: 'config', encoding: 'full', revision, signature, document }));
}

function onMessage(ws: WebSocket, data: Buffer): void {
  let reply: { type?: string; agent_id?: string; status?: string; signature?: string };
  try {
    reply = JSON.parse(data.toString('utf8')) as typeof reply;
  } catch {
    return;
  }
  if (reply.type === 'hello' && typeof reply.agent_id === 'string') return onHello(ws, reply.agent_id);
  const agent = agents.get(ws);
  if (agent && collect) collect(agent, reply);
}

const handlers = {
  async listen(): Promise<number> {
    if (wss) throw new Error('already listening');
    const { server, port } = await listenLoopback((ws) => {
      ws.on('close', () => agents.delete(ws));
      ws.on('message', (data: Buffer) => onMessage(ws, data));
    });
    wss = server;
    return port;
  },
  /** Agents that said hello. */
  agents(): number {
    return agents.size;
  },
  /** Plans and encodes every agent's frame to the policy `{ audit, perAgent }` (a patch when smaller, as Fusion does). */
  prepare(audit: number, perAgent: boolean): { frameBytes: number } {
    revision += 1;
    policy = { audit, perAgent };
    let frameBytes = 0;
    for (const agent of agents.values()) {
      const document = documentFor(agent.agentId, audit, perAgent);
      const signature = configSignature(document);
      const plan = planConfigFrame({ revision, signature, document }, agent.signature, (s) => (s === agent.signature ? agent.document : undefined));
      if (!plan) throw new Error(`agent ${agent.agentId} already runs the target`);
      agent.next = { text: plan.text, signature, document };
      frameBytes = Buffer.byteLength(plan.text);
    }
    return { frameBytes };
  },
  /** Sends every prepared frame; resolves once each agent applied its target, or after `timeoutMs`. */
  broadcast(timeoutMs: number): Promise<FloorBroadcastResult> {
    const targets = [...agents.values()].filter((a) => a.next);
    const latencies: number[] = [];
    let otherReplies = 0;
    return new Promise((resolve) => {
      const t0 = performance.now();
      let sendMs = 0;
      const finish = (): void => {
        clearTimeout(timer);
        collect = null;
        resolve({ agents: targets.length, applied: latencies.length, otherReplies, sendMs, latencies });
      };
      const timer = setTimeout(finish, timeoutMs);
      collect = (agent, reply) => {
        const next = agent.next;
        if (reply.type !== 'config_status' || reply.status !== 'applied' || !next || reply.signature !== next.signature) {
          otherReplies += 1;
          return;
        }
        agent.signature = next.signature;
        agent.document = next.document;
        agent.next = undefined;
        latencies.push(performance.now() - t0);
        if (latencies.length === targets.length) finish();
      };
      for (const agent of targets) agent.ws.send(agent.next!.text);
      sendMs = performance.now() - t0;
    });
  },
  async close(): Promise<null> {
    const server = wss;
    wss = null;
    agents.clear();
    if (server) await closeLoopback(server);
    return null;
  },
};

export type FloorServerHandlers = typeof handlers;

serveRpc(handlers, async () => {
  await handlers.close();
});
