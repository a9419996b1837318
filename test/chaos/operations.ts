import YAML from 'yaml';
import { RawAgentClient } from '../harness/raw-client.js';
import { sampleConfig } from '../harness/sample-config.js';

/** Where the operations run and how they report each acknowledgement. */
export interface Target {
  url: string;
  adminToken: string;
  enrollmentToken: string;
  /** Called on every acknowledgement, as it arrives (a chaos run may kill Fusion right there). */
  onAck(kind: string): void;
}

/**
 * A kind of write Fusion acknowledges: `step` makes one (recording what was
 * acknowledged), `verify` returns the acknowledged writes Fusion no longer has.
 */
export interface Operation {
  readonly kind: string;
  readonly acked: unknown[];
  setup?(target: Target): Promise<void>;
  step(target: Target, n: number): Promise<void>;
  verify(url: string, adminToken: string): Promise<string[]>;
}

async function admin(target: { url: string; adminToken: string }, method: string, path: string, body?: unknown, type = 'application/json'): Promise<Response> {
  return fetch(`${target.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${target.adminToken}`, ...(body !== undefined ? { 'content-type': type } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
}

/** Per-agent config saves (201). */
export class ConfigSaves implements Operation {
  readonly kind = 'config save';
  readonly acked: Array<{ agentId: string; signature: string }> = [];

  async step(target: Target, n: number): Promise<void> {
    const agentId = `chaos-cfg-${n % 8}`;
    const res = await admin(target, 'POST', `/api/v1/management/agents/${agentId}/config/structured`, sampleConfig({ root: `/srv/${n}` }));
    if (res.status !== 201) return;
    this.acked.push({ agentId, signature: String(res.headers.get('x-config-signature')) });
    target.onAck(this.kind);
  }

  async verify(url: string, adminToken: string): Promise<string[]> {
    const lost: string[] = [];
    for (const agentId of new Set(this.acked.map((a) => a.agentId))) {
      const { revisions } = (await (await admin({ url, adminToken }, 'GET', `/api/v1/management/agents/${agentId}/config/history?limit=1000`)).json()) as { revisions: Array<{ signature: string }> };
      const stored = new Set(revisions.map((r) => r.signature));
      for (const a of this.acked) if (a.agentId === agentId && !stored.has(a.signature)) lost.push(`config ${agentId} ${a.signature}`);
    }
    return lost;
  }
}

const GROUP = 'chaos-g';
const template = (n: number): string => YAML.stringify({ agent_id: '${agent_id}', ...sampleConfig({ root: `/srv/\${agent_id}/${n}` }) });

/** Group template saves (200), each starting a rollout over the group's members (all at once, or in batches). */
export class GroupRollouts implements Operation {
  readonly kind = 'group rollout';
  readonly acked: Array<{ revision: number; rollout: string | undefined }> = [];

  async setup(target: Target): Promise<void> {
    const created = await admin(target, 'POST', '/api/v1/management/groups', { name: GROUP, template: template(0) });
    if (created.status !== 201) throw new Error(`creating the chaos group: ${created.status} ${await created.text()}`);
    for (let i = 0; i < 6; i++) {
      const res = await admin(target, 'PUT', `/api/v1/management/groups/${GROUP}/members/chaos-member-${i}`, {});
      if (res.status >= 300) throw new Error(`assigning chaos-member-${i}: ${res.status} ${await res.text()}`);
    }
  }

  async step(target: Target, n: number): Promise<void> {
    const rollout = n % 2 === 0 ? { strategy: 'all' } : { strategy: 'batches', batch_size: 2, pause_seconds: 0, max_failures: 6 };
    const res = await admin(target, 'PUT', `/api/v1/management/groups/${GROUP}/template`, { template: template(n + 1), rollout });
    if (res.status !== 200) return;
    const body = (await res.json()) as { revision: number; rollout: { id: string } | null };
    this.acked.push({ revision: body.revision, rollout: body.rollout?.id });
    target.onAck(this.kind);
  }

  async verify(url: string, adminToken: string): Promise<string[]> {
    const { revisions } = (await (await admin({ url, adminToken }, 'GET', `/api/v1/management/groups/${GROUP}/history?limit=1000`)).json()) as { revisions: Array<{ revision: number }> };
    const stored = new Set(revisions.map((r) => r.revision));
    const lost = this.acked.filter((a) => !stored.has(a.revision)).map((a) => `group revision ${a.revision}`);
    for (const a of this.acked) {
      if (a.rollout && (await admin({ url, adminToken }, 'GET', `/api/v1/management/rollouts/${a.rollout}`)).status !== 200) lost.push(`rollout ${a.rollout}`);
    }
    return lost;
  }
}

/** Enrollments: the credential handed over in `welcome` is the acknowledgement. */
export class Enrollments implements Operation {
  readonly kind = 'enrollment';
  readonly acked: Array<{ agentId: string; credential: string }> = [];
  private readonly prefix = `chaos-enr-${Date.now().toString(36)}`;

  async step(target: Target, n: number): Promise<void> {
    const agentId = `${this.prefix}-${n}`;
    const client = await RawAgentClient.connect(target.url, agentId, target.enrollmentToken);
    try {
      const welcome = await client.hello();
      if (!welcome.credential) return;
      this.acked.push({ agentId, credential: welcome.credential });
      target.onAck(this.kind);
    } finally {
      client.terminate();
    }
  }

  async verify(url: string): Promise<string[]> {
    const lost: string[] = [];
    for (const { agentId, credential } of this.acked) {
      try {
        const client = await RawAgentClient.connect(url, agentId, credential);
        await client.hello().finally(() => client.terminate());
      } catch (err) {
        lost.push(`credential of ${agentId} (${(err as Error).message})`);
      }
    }
    return lost;
  }
}

/** Commands to connected agents (202) and cancellations (200) while the agents acknowledge and finish them. */
export class CommandLifecycle implements Operation {
  readonly kind = 'command';
  readonly acked: Array<{ id: string; cancelled: boolean }> = [];

  constructor(private readonly agentIds: () => string[]) {}

  async step(target: Target, n: number): Promise<void> {
    const ids = this.agentIds();
    const agentId = ids.length ? ids[n % ids.length]! : `chaos-offline-${n % 4}`;
    const res = await admin(target, 'POST', `/api/v1/management/agents/${agentId}/command`, { type: 'report_config' });
    if (res.status !== 202) return;
    const { id } = (await res.json()) as { id: string };
    const record = { id, cancelled: false };
    this.acked.push(record);
    target.onAck(this.kind);
    if (n % 3 !== 0) return;
    const cancel = await admin(target, 'DELETE', `/api/v1/management/commands/${id}`);
    if (cancel.status !== 200) return;
    record.cancelled = true;
    target.onAck(this.kind);
  }

  async verify(url: string, adminToken: string): Promise<string[]> {
    const lost: string[] = [];
    for (const { id, cancelled } of this.acked) {
      const res = await admin({ url, adminToken }, 'GET', `/api/v1/management/commands/${id}`);
      if (res.status !== 200) lost.push(`command ${id}`);
      else if (cancelled && ((await res.json()) as { status: string }).status !== 'cancelled') lost.push(`cancellation of ${id}`);
    }
    return lost;
  }
}
