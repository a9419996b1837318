import { expect } from 'chai';
import { configSignature, validateConfig } from '../harness/protocol-imports.js';
import { deepMerge } from '../../server/groups/deep-merge.js';
import { checkTemplate, mergeMember, renderTemplate, templateVariables } from '../../server/groups/template-render.js';
import { planBatches, RolloutStrategy } from '../../server/groups/rollout-strategy.js';
import { MOUNT_TEMPLATE, member, parse } from './group-fixture.js';


describe('group template rendering', () => {
  const template = parse(MOUNT_TEMPLATE);

  it('renders per agent: built-in and admin variables in string values, the signature of the normalised result', () => {
    const a = renderTemplate(template, member('node-a', { mount_point: 'alpha' }));
    const b = renderTemplate(template, member('node-b', { mount_point: 'beta' }));
    if (!a.ok || !b.ok) throw new Error('expected both to render');
    expect((a.document.sources as any).data.uri).to.equal('/mnt/alpha/data');
    expect((b.document.sources as any).data.uri).to.equal('/mnt/beta/data');
    expect(a.document.agent_id).to.equal('node-a');
    expect(a.signature).to.not.equal(b.signature);
    const normalised = validateConfig(a.document);
    expect(normalised.ok).to.equal(true);
    if (normalised.ok) expect(a.signature).to.equal(configSignature(normalised.config));
    expect((a.document.pipes as any).main.disabled).to.equal(false); // defaults are filled in
    expect(templateVariables(template)).to.deep.equal(['agent_id', 'mount_point']);
  });

  it('names the variable and its path when an agent lacks one; $${x} is the literal text', () => {
    const missing = renderTemplate(template, member('node-a'));
    expect(missing.ok).to.equal(false);
    if (!missing.ok) expect(missing.errors).to.deep.equal([{ path: 'sources.data.uri', message: 'unknown variable ${mount_point}' }]);

    const escaped = parse('sources:\n  s: { driver: fs, uri: "/data/$${mount_point}/${x}" }\n');
    const rendered = renderTemplate(escaped, member('n', { x: 'y' }));
    if (!rendered.ok) throw new Error(JSON.stringify(rendered.errors));
    expect((rendered.document.sources as any).s.uri).to.equal('/data/${mount_point}/y');

    const malformed = renderTemplate(parse('sources:\n  s: { driver: fs, uri: "/a/${not valid}" }\n'), member('n'));
    expect(malformed.ok).to.equal(false);
    if (!malformed.ok) expect(malformed.errors[0]!.message).to.match(/malformed variable reference/);
  });

  it('substitutes inside lists and names each problem by its full path, leaving the template as it was', () => {
    const source = { a: [{ b: 'x' }, { b: '${nope}', c: ['${v}', '${w}'] }], d: { e: '${v}' }, n: 1 };
    const before = JSON.stringify(source);
    const result = mergeMember(source, new Map([['v', 'V']]), null);
    expect(result).to.deep.equal({
      ok: false,
      errors: [
        { path: 'a.1.b', message: 'unknown variable ${nope}' },
        { path: 'a.1.c.1', message: 'unknown variable ${w}' },
      ],
    });
    const ok = mergeMember(source, new Map([['v', 'V'], ['w', 'W'], ['nope', 'N']]), null);
    expect(ok).to.deep.equal({ ok: true, value: { a: [{ b: 'x' }, { b: 'N', c: ['V', 'W'] }], d: { e: 'V' }, n: 1 } });
    expect(JSON.stringify(source)).to.equal(before);
  });

  it('substitutes after parsing, so a value cannot inject YAML structure', () => {
    const rendered = renderTemplate(template, member('node-a', { mount_point: 'x\npipes:\n  evil: {source: data, sender: fusion}' }));
    if (!rendered.ok) throw new Error(JSON.stringify(rendered.errors));
    expect(Object.keys(rendered.document.pipes as object)).to.deep.equal(['main']);
    expect((rendered.document.sources as any).data.uri).to.contain('evil');
  });

  it('uses the reported host name unless the admin set a hostname variable; reports it missing before the first connection', () => {
    const t = parse('sources:\n  s: { driver: fs, uri: "/srv/${hostname}" }\n');
    const reported = renderTemplate(t, member('n', {}, { hostname: 'nfs-7' }));
    const explicit = renderTemplate(t, member('n', { hostname: 'chosen' }, { hostname: 'nfs-7' }));
    const unknown = renderTemplate(t, member('n'));
    expect(reported.ok && (reported.document.sources as any).s.uri).to.equal('/srv/nfs-7');
    expect(explicit.ok && (explicit.document.sources as any).s.uri).to.equal('/srv/chosen');
    expect(unknown.ok).to.equal(false);
    if (!unknown.ok) expect(unknown.errors[0]!.message).to.match(/unknown variable \$\{hostname\}.*has not reported/);
  });

  it('does not use a reported host name holding "${": an agent cannot put a secret reference into its own document', () => {
    const t = parse('sources:\n  s: { driver: fs, uri: "/srv/${hostname}" }\n');
    const smuggled = renderTemplate(t, member('n', {}, { hostname: '${secret:db_password}' }));
    expect(smuggled.ok).to.equal(false);
    if (!smuggled.ok) expect(smuggled.errors[0]!.message).to.match(/unknown variable \$\{hostname\}.*holding "\$\{"/);
    // An admin's hostname variable is still taken as written.
    const explicit = renderTemplate(t, member('n', { hostname: 'nfs-1' }, { hostname: '${secret:db_password}' }));
    expect(explicit.ok && (explicit.document.sources as any).s.uri).to.equal('/srv/nfs-1');
  });

  it('merges the override over the rendered template: objects recursively, arrays and scalars replace, null deletes', () => {
    const rendered = renderTemplate(
      template,
      member('node-a', { mount_point: 'alpha' }, {
        override: {
          sources: { data: { uri: '/override/path' }, extra: { driver: 'fs', uri: '/extra' } },
          pipes: { main: { audit_interval_sec: null, sentinel_interval_sec: 5 } },
        },
      }),
    );
    if (!rendered.ok) throw new Error(JSON.stringify(rendered.errors));
    expect((rendered.document.sources as any).data).to.include({ driver: 'fs', uri: '/override/path' });
    expect((rendered.document.sources as any).extra.uri).to.equal('/extra');
    expect((rendered.document.pipes as any).main).to.not.have.property('audit_interval_sec');
    expect((rendered.document.pipes as any).main.sentinel_interval_sec).to.equal(5);

    const base = { a: { list: [1, 2], keep: true }, b: 1 };
    const merged = deepMerge(base, { a: { list: [3] }, b: null, c: { d: null, e: 2 } });
    expect(merged).to.deep.equal({ a: { list: [3], keep: true }, c: { e: 2 } });
    expect(base).to.deep.equal({ a: { list: [1, 2], keep: true }, b: 1 });
  });

  it('validates the merged result: an override that breaks a reference is reported', () => {
    const rendered = renderTemplate(template, member('node-a', { mount_point: 'a' }, { override: { senders: { fusion: null } } }));
    expect(rendered.ok).to.equal(false);
    if (!rendered.ok) expect(rendered.errors.map((e) => e.path)).to.deep.equal(['pipes.main.sender']);
  });

  it('checks a template on its own: a mapping, well-formed references, a valid document once variables are filled', () => {
    expect(checkTemplate(template)).to.deep.equal([]);
    expect(checkTemplate(['a'])[0]!.message).to.match(/mapping/);
    expect(checkTemplate(parse('sources:\n  s: { driver: ftp, uri: "/${x}" }\n'))[0]!.path).to.equal('sources.s.driver');
  });

  it('plans batches by size or percent, never an empty one', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    expect(planBatches(ids, { strategy: 'all' })).to.deep.equal([ids]);
    expect(planBatches(ids, RolloutStrategy.parse({ strategy: 'batches', batch_size: 2 }))).to.deep.equal([['a', 'b'], ['c', 'd'], ['e']]);
    expect(planBatches(ids, RolloutStrategy.parse({ strategy: 'batches', percent: 40 }))).to.deep.equal([['a', 'b'], ['c', 'd'], ['e']]);
    expect(planBatches(ids, RolloutStrategy.parse({ strategy: 'batches', percent: 1 })).length).to.equal(5);
    expect(planBatches([], { strategy: 'all' })).to.deep.equal([]);
    expect(RolloutStrategy.safeParse({ strategy: 'batches' }).success).to.equal(false);
    expect(RolloutStrategy.safeParse({ strategy: 'batches', batch_size: 1, percent: 5 }).success).to.equal(false);
  });
});
