import { expect } from 'chai';
import { MemoRenderer } from '../../server/groups/render-memo.js';
import { renderTemplate, type MemberInput } from '../../server/groups/template-render.js';
import { renderMembers } from '../../server/groups/member-renderer.js';
import { parsePool } from '../../server/parse/parse-pool.js';
import type { MemberForRender } from '../../server/groups/group-store.js';
import { member, parse } from './group-fixture.js';


/** No reference to ${agent_id}: members that agree on `site` render alike. */
const SITE_TEMPLATE = `
sources:
  data: { driver: fs, uri: "/mnt/\${site}/data" }
senders:
  fusion: { driver: fusion, uri: "http://fusion:8102", credential: { key: k } }
pipes:
  main: { source: data, sender: fusion }
`;

describe('rendering a template for many members (validated once per distinct document)', () => {
  const template = parse(SITE_TEMPLATE);
  const members: MemberInput[] = [
    member('a', { site: 'north' }),
    member('b', { site: 'north', unused: 'x' }),
    member('c', { site: 'south' }),
    member('d'),
    member('e', { site: 'north' }, { override: { pipes: { main: { source: 'missing' } } } }),
    member('f', { site: 'north' }, { override: { agent_id: 'someone-else' } }),
    member('g', { site: 'north' }, { override: { agent_id: 'g' } }),
    member('h', { site: 'north' }, { hostname: 'host-h' }),
  ];

  it('gives every member exactly what rendering it alone gives, valid or not', () => {
    const memo = new MemoRenderer(template);
    for (const m of members) expect(memo.render(m), m.agentId).to.deep.equal(renderTemplate(template, m));
    const results = Object.fromEntries(members.map((m) => [m.agentId, memo.render(m)]));
    expect(results['a']!.ok && results['c']!.ok && results['g']!.ok && results['h']!.ok).to.equal(true);
    expect(results['d']!.ok).to.equal(false); // no `site` variable
    expect(results['e']!.ok).to.equal(false); // its override names an unknown source
    const other = results['f']!;
    expect(other.ok).to.equal(false);
    if (!other.ok) expect(other.errors.map((e) => e.path)).to.deep.equal(['agent_id']);
  });

  it('shares one document and signature between members that render alike, and keeps different ones apart', () => {
    const memo = new MemoRenderer(template);
    const ok = (id: string) => {
      const result = memo.render(members.find((m) => m.agentId === id)!);
      if (!result.ok) throw new Error(`expected ${id} to render`);
      return result;
    };
    const [a, b, c, h] = [ok('a'), ok('b'), ok('c'), ok('h')];
    expect(b.document).to.equal(a.document);
    expect(h.document).to.equal(a.document); // the template does not refer to the host name
    expect(b.signature).to.equal(a.signature);
    expect(c.signature).to.not.equal(a.signature);
    expect((c.document.sources as any).data.uri).to.equal('/mnt/south/data');
  });

  it('reads the host name as rendering alone does: a hostname variable wins over the reported one', () => {
    const byHost = parse(SITE_TEMPLATE.replace('/mnt/${site}/data', '/mnt/${hostname}/data'));
    const hosts: MemberInput[] = [
      member('p', {}, { hostname: 'node-1' }),
      member('q', {}, { hostname: 'node-1' }),
      member('r', { hostname: 'node-1' }, { hostname: 'node-2' }),
      member('s', { hostname: 'node-2' }),
      member('t'),
      member('u', {}, { hostname: 'node-1', override: { pipes: { main: { disabled: true } } } }),
      member('v', { site: 'x' }, { hostname: 'node-1', override: { pipes: { main: { disabled: true } } } }),
    ];
    const memo = new MemoRenderer(byHost);
    const results = hosts.map((m) => memo.render(m));
    hosts.forEach((m, i) => expect(results[i], m.agentId).to.deep.equal(renderTemplate(byHost, m)));
    const uri = (i: number): unknown => (results[i]!.ok ? ((results[i] as any).document.sources.data.uri as unknown) : 'invalid');
    expect([0, 1, 2, 3, 4, 5].map(uri)).to.deep.equal(['/mnt/node-1/data', '/mnt/node-1/data', '/mnt/node-1/data', '/mnt/node-2/data', 'invalid', '/mnt/node-1/data']);
    expect((results[1] as any).document).to.equal((results[0] as any).document);
    expect((results[2] as any).document).to.equal((results[0] as any).document);
    expect((results[5] as any).document).to.not.equal((results[0] as any).document);
    expect((results[6] as any).document).to.equal((results[5] as any).document); // `site` is not referred to
  });

  it('renders per agent a template that names the agent, and still rejects a save where one member does not render', async () => {
    const perAgent = parse(SITE_TEMPLATE.replace('/mnt/${site}/data', '/mnt/${site}/${agent_id}'));
    const forRender = (m: MemberInput): MemberForRender => ({
      agent_id: m.agentId,
      group_name: 'g',
      variables: m.variables,
      override: m.override,
      assigned_by: 'admin',
      assigned_at: 0,
      rendered_revision: null,
      hostname: m.hostname,
      running_signature: null,
      status_signature: null,
      status: null,
      status_error: null,
      desired_signature: null,
    });
    for (const t of [template, perAgent]) {
      const { rendered, failures } = await renderMembers(t, members.map(forRender));
      expect(rendered.map((r) => r.member.agent_id)).to.deep.equal(['a', 'b', 'c', 'g', 'h']);
      expect(failures.map((f) => f.agent_id)).to.deep.equal(['d', 'e', 'f']);
      for (const r of rendered) {
        const alone = renderTemplate(t, members.find((m) => m.agentId === r.member.agent_id)!);
        expect(alone.ok && alone.signature).to.equal(r.signature);
      }
      // The same on the parse pool's worker (forced here; a save of 500 members or more goes there).
      const answers = parsePool.workerAnswers;
      const offLoop = await renderMembers(t, members.map(forRender), undefined, 0);
      expect(parsePool.workerAnswers).to.equal(answers + 1);
      expect(offLoop.failures).to.deep.equal(failures);
      expect(offLoop.rendered.map((r) => [r.member, r.document, r.signature])).to.deep.equal(rendered.map((r) => [r.member, r.document, r.signature]));
    }
  });
});
