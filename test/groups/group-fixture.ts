/**
 * Helpers for the group tests: the group API as functions, and a member agent
 * built on the raw protocol client that applies what Fusion pushes (patch or
 * full), answers with `config_status`, and fails on demand.
 */
import { expect } from 'chai';
import {
  FusionToAgentFrame,
  applyDocumentPatch,
  configSignature,
  decodeFrame,
  formatIssues,
  parseDocumentText,
  validateConfig,
  type ConfigFrame,
  type Operation,
} from '../harness/protocol-imports.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import type { MemberInput } from '../../server/groups/template-render.js';

/** A template every member renders differently: its source root comes from `${mount_point}`. */
/** A YAML template parsed to a plain value (throws on a syntax error). */
export function parse(yaml: string): Record<string, unknown> {
  const parsed = parseDocumentText(yaml, 'yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value as Record<string, unknown>;
}

/** A member as the renderer takes it. */
export const member = (agentId: string, variables: Record<string, string> = {}, extra: Partial<MemberInput> = {}): MemberInput => ({
  agentId,
  hostname: null,
  variables,
  override: null,
  ...extra,
});

export const MOUNT_TEMPLATE = `# group template
agent_id: \${agent_id}
sources:
  data:
    driver: fs
    uri: /mnt/\${mount_point}/data
senders:
  fusion:
    driver: fusion
    uri: http://127.0.0.1:1
    credential: { key: test-key }
pipes:
  main:
    source: data
    sender: fusion
    audit_interval_sec: 300
`;

/** The same template with another audit interval: a change that reaches every member. */
export function withAudit(template: string, seconds: number): string {
  return template.replace('audit_interval_sec: 300', `audit_interval_sec: ${seconds}`);
}

/** A fresh Fusion for each test of the calling suite, and the member agents a test connects (closed after it). */
export function fusionPerTest(): { fusion: TestFusion; members: MemberAgent[] } {
  const world = { fusion: undefined as unknown as TestFusion, members: [] as MemberAgent[] };
  beforeEach(async () => {
    world.fusion = await startFusion();
  });
  afterEach(async () => {
    for (const m of world.members.splice(0)) m.close();
    await world.fusion.stop();
  });
  return world;
}

export async function call(fusion: TestFusion, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fusion.api(path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null, headers: res.headers };
}

/** Calls and checks the status, showing the body when it differs. */
export async function ok(fusion: TestFusion, method: string, path: string, body?: unknown, status = 200, headers: Record<string, string> = {}): Promise<any> {
  const res = await call(fusion, method, path, body, headers);
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  return res.body;
}

export const createGroup = (fusion: TestFusion, name: string, template: string, attributes: { self_join?: boolean } = {}): Promise<any> =>
  ok(fusion, 'POST', '/api/v1/management/groups', { name, template, ...attributes }, 201);

/** Enrols `agentId` over HTTP as a polling agent does; resolves with its credential. */
export async function enrollPoller(fusion: TestFusion, agentId: string, token = fusion.enrollmentToken): Promise<string> {
  const res = await fetch(`${fusion.url}/api/v1/control/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent_id: agentId }),
  });
  if (res.status !== 201) throw new Error(`enroll ${agentId}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { credential: string }).credential;
}

export const assign = (fusion: TestFusion, group: string, agentId: string, body: { variables?: Record<string, string>; override?: unknown } = {}): Promise<any> =>
  ok(fusion, 'PUT', `/api/v1/management/groups/${group}/members/${agentId}`, body);

export const saveTemplate = (fusion: TestFusion, group: string, template: string, rollout?: unknown): Promise<any> =>
  ok(fusion, 'PUT', `/api/v1/management/groups/${group}/template`, { template, ...(rollout !== undefined && { rollout }) });

export const rollout = (fusion: TestFusion, id: string): Promise<any> => ok(fusion, 'GET', `/api/v1/management/rollouts/${id}`);

/** The agent's desired config as Fusion serves it (JSON). */
export const desired = (fusion: TestFusion, agentId: string): Promise<any> =>
  ok(fusion, 'GET', `/api/v1/management/agents/${agentId}/config`, undefined, 200, { accept: 'application/json' });

/** The state of each member in a rollout, by agent id. */
export function states(view: { agents: Array<{ agent_id: string; state: string }> }): Record<string, string> {
  return Object.fromEntries(view.agents.map((a) => [a.agent_id, a.state]));
}

/**
 * An agent on the raw protocol that behaves like the real one towards config
 * frames: it applies a patch to the document it runs (asking for the full
 * document when it cannot), validates, and ACKs or NACKs. `rejects` makes it
 * NACK a document, as an agent whose pipes cannot start would.
 */
export class MemberAgent {
  document: Record<string, unknown> | null = null;
  signature: string | null = null;
  /** Every config frame received, in order. */
  readonly received: ConfigFrame[] = [];
  rejects: (document: Record<string, unknown>) => string | undefined = () => undefined;
  /** Drops the connection on the next config frame without answering, as an agent that crashes applying it. */
  crashOnConfig = false;
  /** Keeps config frames without answering, connection up (an agent stuck applying), until {@link answerHeld}. */
  holdConfigs = false;
  private readonly held: ConfigFrame[] = [];

  private constructor(readonly client: RawAgentClient) {
    client.ws.on('message', (data) => {
      const decoded = decodeFrame(FusionToAgentFrame, data as Buffer);
      if (decoded.ok && decoded.frame.type === 'config') this.onConfig(decoded.frame);
    });
  }

  /** Connects and says hello; `from` carries over the config an earlier connection of the same agent ran. */
  static async connect(
    fusion: TestFusion,
    agentId: string,
    options: { group?: string; from?: MemberAgent; hostname?: string; token?: string; attributes?: Record<string, string> } = {},
  ): Promise<MemberAgent> {
    const client = options.token === undefined ? await RawAgentClient.connectAs(fusion.url, agentId, fusion.enrollmentToken) : await RawAgentClient.connect(fusion.url, agentId, options.token);
    const member = new MemberAgent(client);
    if (options.from) {
      member.document = options.from.document;
      member.signature = options.from.signature;
      member.rejects = options.from.rejects;
    }
    await client.hello(
      { signature: member.signature, source: member.signature ? 'remote' : 'none' },
      {
        ...(options.group !== undefined && { group: options.group }),
        ...(options.hostname !== undefined && { hostname: options.hostname }),
        ...(options.attributes !== undefined && { attributes: options.attributes }),
      },
    );
    return member;
  }

  get agentId(): string {
    return this.client.agentId;
  }

  close(): void {
    this.client.terminate();
  }

  /** Answers the config frames held so far, in order, and stops holding. */
  answerHeld(): void {
    this.holdConfigs = false;
    for (const frame of this.held.splice(0)) this.apply(frame);
  }

  private onConfig(frame: ConfigFrame): void {
    this.received.push(frame);
    if (this.holdConfigs) {
      this.held.push(frame);
      return;
    }
    this.apply(frame);
  }

  private apply(frame: ConfigFrame): void {
    if (this.crashOnConfig) {
      this.client.terminate();
      return;
    }
    let document: Record<string, unknown>;
    if (frame.encoding === 'full') document = frame.document;
    else {
      const patched =
        this.document && this.signature === frame.base_signature
          ? applyDocumentPatch(this.document, frame.patch as Operation[], frame.signature)
          : ({ ok: false, reason: 'base is not the running config' } as const);
      if (!patched.ok) {
        this.client.send({ type: 'config_request', current_signature: this.signature, reason: patched.reason });
        return;
      }
      document = patched.document;
    }
    this.client.send({ type: 'config_status', signature: frame.signature, revision: frame.revision, status: 'applying' });
    const checked = validateConfig(document, { agentId: this.agentId });
    const problem = !checked.ok ? formatIssues(checked.errors) : configSignature(checked.config) !== frame.signature ? 'signature mismatch' : this.rejects(document);
    if (problem !== undefined) {
      this.client.send({ type: 'config_status', signature: frame.signature, revision: frame.revision, status: 'failed', error: problem });
      return;
    }
    this.document = document;
    this.signature = frame.signature;
    this.client.send({ type: 'config_status', signature: frame.signature, revision: frame.revision, status: 'applied', pipes: { added: [], removed: [], restarted: [] } });
  }
}
