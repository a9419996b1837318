import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { fustorctl } from './cli-harness.js';

describe('fustorctl secret', () => {
  let fusion: TestFusion;
  let dir: Awaited<ReturnType<typeof tempHome>>;
  const ctl = (argv: string[], options: Parameters<typeof fustorctl>[1] = {}) => fustorctl(argv, { url: fusion.url, token: fusion.adminToken, ...options });

  beforeEach(async () => {
    fusion = await startFusion();
    dir = await tempHome('fustorctl-secret-');
  });
  afterEach(async () => {
    await fusion.stop();
    await dir.remove();
  });

  it('creates from stdin, a file or the environment, rotates, lists with users, refuses to delete a used one, deletes; never prints a value', async () => {
    expect(await ctl(['secret', 'create', 'db'], { stdin: 'from-stdin-value\n' })).to.include({ status: 0, stdout: 'created secret db (version 1)\n' });
    const file = join(dir.path, 'value');
    await writeFile(file, 'from-file-value\n');
    expect((await ctl(['secret', 'rotate', 'db', '--value-file', file])).stdout).to.equal('rotated secret db (version 2)\n');
    expect((await ctl(['secret', 'create', 'ingest', '--from-env', 'KEY'], { env: { KEY: 'from-env-value' } })).status).to.equal(0);
    const document = { sources: {}, senders: { out: { driver: 'fusion', uri: 'http://f', credential: { key: '${secret:ingest}' } } }, pipes: {} };
    expect((await fusion.json('POST', '/api/v1/management/agents/node-1/config/structured', document)).status).to.equal(201);

    const list = await ctl(['secret', 'list']);
    expect(list.stdout.split('\n')[0]).to.match(/^NAME\s+VERSION\s+UPDATED\s+BY\s+USED BY$/);
    expect(list.stdout).to.match(/\ndb\s+2\s/).and.match(/\ningest\s+1\s.*1 agent\(s\)/);
    const show = await ctl(['secret', 'show', 'ingest', '--json']);
    expect(JSON.parse(show.stdout)).to.deep.include({ name: 'ingest', version: 1, users: { agents: ['node-1'], groups: [] } });

    const refused = await ctl(['secret', 'delete', 'ingest']);
    expect(refused.status).to.equal(1);
    expect(refused.stderr).to.contain('node-1').and.contain('[secret_in_use]');
    expect(await ctl(['secret', 'delete', 'db'])).to.include({ status: 0, stdout: 'deleted secret db\n' });
    const outputs = [list, show, refused].map((r) => r.stdout + r.stderr).join('');
    for (const value of ['from-stdin-value', 'from-file-value', 'from-env-value']) expect(outputs).to.not.contain(value);
  });

  it('says what is wrong: no value, unknown action, unknown secret', async () => {
    expect((await ctl(['secret', 'create', 'x', '--from-env', 'UNSET'])).stderr).to.contain('UNSET is not set');
    expect((await ctl(['secret', 'frobnicate'])).status).to.equal(2);
    const missing = await ctl(['secret', 'rotate', 'nope'], { stdin: 'v' });
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.contain('secret nope not found');
  });
});
