import { expect } from 'chai';
import type { MemberForRender } from '../../server/groups/group-store.js';
import { parseTemplate, renderMembers } from '../../server/groups/member-renderer.js';
import { PreviewRenderer } from '../../server/groups/preview-render.js';
import { MOUNT_TEMPLATE, withAudit } from './group-fixture.js';

function forRender(agentId: string, variables: Record<string, string>, override: MemberForRender['override'] = null): MemberForRender {
  return {
    agent_id: agentId,
    group_name: 'g',
    variables,
    override,
    assigned_by: 'admin',
    assigned_at: 0,
    rendered_revision: 1,
    hostname: null,
    running_signature: null,
    status_signature: null,
    status: null,
    status_error: null,
    desired_signature: null,
  };
}

/** What rendering every member afresh gives: agent id → signature or the problems. */
async function expected(text: string, members: MemberForRender[]): Promise<Map<string, string | null>> {
  const { rendered, failures } = await renderMembers(parseTemplate(text).template, members);
  return new Map([...rendered.map((r) => [r.member.agent_id, r.signature] as const), ...failures.map((f) => [f.agent_id, null] as const)]);
}

describe('preview rendering (outcomes remembered per template, rendered in slices)', () => {
  it('gives what rendering afresh gives, also after a member, its override or the template changed', async () => {
    const renderer = new PreviewRenderer();
    const members = [forRender('a', { mount_point: 'a' }), forRender('b', { mount_point: 'b' }), forRender('c', {})];
    const check = async (text: string, list: MemberForRender[]): Promise<void> => {
      const { template, signature } = parseTemplate(text);
      const outcomes = await renderer.outcomes('g', template, signature, list);
      expect(new Map(outcomes.map((o) => [o.member.agent_id, o.signature]))).to.deep.equal(await expected(text, list));
      const failed = outcomes.find((o) => o.signature === null);
      if (failed) expect(failed.errors.map((e) => e.message).join()).to.include('unknown variable ${mount_point}');
    };
    await check(MOUNT_TEMPLATE, members);
    await check(MOUNT_TEMPLATE, members); // remembered
    // The same agents with other inputs: outcomes follow the inputs, never the remembered ones.
    const changed = [forRender('a', { mount_point: 'moved' }), forRender('b', { mount_point: 'b' }, { pipes: { main: { audit_interval_sec: 5 } } }), forRender('c', { mount_point: 'c' })];
    await check(MOUNT_TEMPLATE, changed);
    await check(withAudit(MOUNT_TEMPLATE, 900), changed);
    await check(MOUNT_TEMPLATE, members);
    // The page's documents are exactly the remembered signatures' documents.
    const { template } = parseTemplate(MOUNT_TEMPLATE);
    const docs = renderer.documents(template, changed.slice(0, 1));
    expect((docs.get('a')!.sources as any).data.uri).to.equal('/mnt/moved/data');
  });

  it('yields to the event loop while it renders thousands of members', async () => {
    const renderer = new PreviewRenderer();
    const members = Array.from({ length: 3000 }, (_, i) => forRender(`m-${i}`, { mount_point: `m${i}` }));
    const { template, signature } = parseTemplate(MOUNT_TEMPLATE);
    let ticks = 0;
    let done = false;
    const tick = (): void => {
      if (done) return;
      ticks++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const outcomes = await renderer.outcomes('g', template, signature, members);
    done = true;
    expect(outcomes).to.have.length(3000);
    expect(outcomes.every((o) => o.signature !== null)).to.equal(true);
    // Slices are about 10 ms; 3,000 per-agent renders take several times that, so other callbacks ran between slices.
    expect(ticks).to.be.greaterThan(1);
  });
});
