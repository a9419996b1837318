import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadLocalConfig, localConfigDir } from '../../agent/config/local-config.js';
import { tempHome } from '../harness/temp-home.js';

describe('agent local config (agent-config/*.yaml)', () => {
  let home: { path: string; remove(): Promise<void> };
  let dir: string;

  beforeEach(async () => {
    home = await tempHome('agent-local-');
    dir = localConfigDir(home.path);
  });
  afterEach(async () => {
    await home.remove();
  });

  async function write(name: string, text: string): Promise<string> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, name);
    await writeFile(file, text);
    return file;
  }

  it('is empty (null) without the directory or without yaml files', async () => {
    expect(await loadLocalConfig(home.path)).to.deep.equal({ ok: true, config: null, files: [] });
    await write('notes.txt', 'not config');
    expect(await loadLocalConfig(home.path)).to.deep.equal({ ok: true, config: null, files: [] });
  });

  it('merges sources, senders and pipes of every .yaml and .yml file into one validated config', async () => {
    await write('10-sources.yaml', '# where data comes from\nsources:\n  home-dirs: { driver: fs, uri: /srv/home }\n');
    await write('20-senders.yml', 'senders:\n  fusion: { driver: fusion, uri: "http://fusion:8102", credential: { key: k1 } }\n');
    await write('30-pipes.yaml', 'agent_id: node-1\npipes:\n  home: { source: home-dirs, sender: fusion }\n');
    await write('.hidden.yaml', 'pipes: { x: { source: nope, sender: nope } }\n');
    const result = await loadLocalConfig(home.path, { agentId: 'node-1' });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.files.map((f) => path.basename(f))).to.deep.equal(['10-sources.yaml', '20-senders.yml', '30-pipes.yaml']);
    expect(result.config).to.deep.equal({
      agent_id: 'node-1',
      sources: { 'home-dirs': { driver: 'fs', uri: '/srv/home', disabled: false, driver_params: {} } },
      senders: { fusion: { driver: 'fusion', uri: 'http://fusion:8102', credential: { key: 'k1' }, disabled: false, driver_params: {} } },
      pipes: { home: { source: 'home-dirs', sender: 'fusion', disabled: false } },
    });
  });

  it('refuses the same id in two files, naming both', async () => {
    const a = await write('a.yaml', 'sources:\n  shared: { driver: fs, uri: /a }\n');
    const b = await write('b.yaml', 'sources:\n  shared: { driver: fs, uri: /b }\n');
    const result = await loadLocalConfig(home.path);
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    expect(result.errors).to.deep.equal([`sources.shared: defined in both ${a} and ${b}`]);
  });

  it('reports every problem with the file it comes from', async () => {
    const a = await write('a.yaml', 'pipes:\n  p1: { source: missing, sender: out }\n');
    const b = await write('b.yaml', 'senders:\n  out: { driver: carrier-pigeon, uri: "x" }\n');
    const c = await write('c.yaml', 'sources: [1, 2]\n');
    const d = await write('d.yaml', 'pipes: {\n');
    const syntax = await loadLocalConfig(home.path);
    expect(syntax.ok).to.equal(false);
    if (syntax.ok) return;
    expect(syntax.errors).to.have.length(2);
    expect(syntax.errors[0]).to.equal(`${c}: sources: expected a mapping of id to settings`);
    expect(syntax.errors[1]).to.match(new RegExp(`^${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\(root\\): invalid YAML`));

    await write('c.yaml', '');
    await write('d.yaml', 'logging: { level: debug }\n');
    const refs = await loadLocalConfig(home.path);
    expect(refs.ok).to.equal(false);
    if (refs.ok) return;
    expect(refs.errors).to.include(`${a}: pipes.p1.source: unknown source "missing"`);
    expect(refs.errors.some((e) => e.startsWith(`${b}: senders.out.driver: unknown sender driver "carrier-pigeon"`))).to.equal(true);
  });

  it('refuses a config naming another agent and top-level keys set differently in two files', async () => {
    const a = await write('a.yaml', 'agent_id: node-1\n');
    const b = await write('b.yaml', 'agent_id: node-2\n');
    const result = await loadLocalConfig(home.path, { agentId: 'node-1' });
    expect(result).to.deep.include({ ok: false, errors: [`agent_id: set differently in ${a} and ${b}`] });
    await write('b.yaml', 'agent_id: node-1\n');
    expect((await loadLocalConfig(home.path, { agentId: 'node-1' })).ok).to.equal(true);
    expect((await loadLocalConfig(home.path, { agentId: 'node-9' })).ok).to.equal(false);
  });
});
