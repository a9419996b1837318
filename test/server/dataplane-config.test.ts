import { expect } from 'chai';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FUSION_CONFIG_FILE,
  FUSION_DRIVERS,
  FusionConfigError,
  GENERATED_API_KEY_LENGTH,
  loadFusionConfig,
  parseFusionConfigText,
  validateFusionConfig,
} from '../../server/dataplane/index.js';
import { tempHome } from '../harness/temp-home.js';

describe('dataplane fusion.yaml', () => {
  let home: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    home = await tempHome('fustor-fusion-config-');
  });
  afterEach(async () => {
    await home.remove();
  });

  it('writes a default config with a fresh key when fusion.yaml is missing, then reads it back as is', async () => {
    const first = await loadFusionConfig(home.path);
    expect(first.generatedApiKey).to.be.a('string').with.lengthOf(GENERATED_API_KEY_LENGTH);
    expect(first.path).to.equal(join(home.path, FUSION_CONFIG_FILE));
    expect(first.config.receivers.default).to.deep.equal({
      driver: 'http',
      session_timeout_seconds: 30,
      heartbeat_interval_seconds: 10,
      api_keys: [{ key: first.generatedApiKey, pipe_id: 'default' }],
    });
    expect(first.config.views).to.deep.equal({ default: { driver: 'fs' } });
    expect(first.config.pipes).to.deep.equal({ default: { receiver: 'default', views: ['default'], disabled: false } });

    expect((await stat(first.path)).mode & 0o777).to.equal(0o600);
    expect(await readdir(home.path)).to.deep.equal([FUSION_CONFIG_FILE]);
    expect(await readFile(first.path, 'utf8')).to.include(first.generatedApiKey!);

    const second = await loadFusionConfig(home.path);
    expect(second.generatedApiKey).to.equal(undefined);
    expect(second.config).to.deep.equal(first.config);
  });

  it('creates a missing home directory for the default config', async () => {
    const nested = join(home.path, 'a', 'b');
    const loaded = await loadFusionConfig(nested);
    expect(loaded.generatedApiKey).to.be.a('string');
    expect((await stat(nested)).isDirectory()).to.equal(true);
  });

  it('lists every reference and driver problem with its path', () => {
    const check = validateFusionConfig({
      receivers: {
        r1: {
          driver: 'grpc',
          session_timeout_seconds: 5,
          heartbeat_interval_seconds: 5,
          api_keys: [
            { key: 'same-key', pipe_id: 'p1' },
            { key: 'same-key', pipe_id: 'ghost' },
          ],
        },
        r2: { driver: 'http', api_keys: [{ key: 'other', pipe_id: 'p1' }] },
      },
      views: { v1: { driver: 'fs', api_keys: ['k', 'k'] }, v2: { driver: 'sql' } },
      pipes: {
        p1: { receiver: 'r1', views: ['v1', 'missing-view', 'v1'] },
        p2: { receiver: 'nobody', views: ['v2'] },
      },
    });
    expect(check.ok).to.equal(false);
    if (check.ok) return;
    const paths = check.errors.map((e) => e.path).sort();
    expect(paths).to.deep.equal(
      [
        'receivers.r1.driver',
        'receivers.r1.heartbeat_interval_seconds',
        'receivers.r1.api_keys.1.pipe_id',
        'receivers.r1.api_keys.1.key',
        'receivers.r2.api_keys.0.pipe_id',
        'views.v1.api_keys.1',
        'views.v2.driver',
        'pipes.p1.views.1',
        'pipes.p1.views.2',
        'pipes.p2.receiver',
      ].sort(),
    );
    const duplicate = check.errors.find((e) => e.path === 'receivers.r1.api_keys.1.key')!;
    expect(duplicate.message).to.include('receivers.r1.api_keys.0').and.not.include('same-key');
    expect(check.errors.find((e) => e.path === 'receivers.r2.api_keys.0.pipe_id')!.message).to.include('fed by receiver "r1"');
  });

  it('lists every schema problem with its path', () => {
    const check = validateFusionConfig({
      receivers: { r: { driver: 'http', session_timeout_seconds: -1, api_keys: [{ key: '' }] } },
      views: { 'bad id!': { driver: 'fs' } },
      pipes: { p: { receiver: 'r', views: [], colour: 'blue' } },
      extra: true,
    });
    expect(check.ok).to.equal(false);
    if (check.ok) return;
    const paths = check.errors.map((e) => e.path);
    expect(paths).to.include.members([
      'receivers.r.session_timeout_seconds',
      'receivers.r.api_keys.0.key',
      'receivers.r.api_keys.0.pipe_id',
      'views.bad id!',
      'pipes.p.views',
      'pipes.p',
      '(root)',
    ]);
  });

  it('parses YAML with the shared limits: syntax errors and alias bombs are issues, not exceptions', () => {
    const syntax = parseFusionConfigText('receivers: [unclosed');
    expect(syntax.ok).to.equal(false);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`);
    const aliases = parseFusionConfigText(bomb.join('\n'));
    expect(aliases.ok).to.equal(false);
    if (!aliases.ok) expect(aliases.errors[0]!.message).to.match(/alias/i);
    const empty = parseFusionConfigText('');
    expect(empty).to.deep.equal({ ok: true, config: { receivers: {}, views: {}, pipes: {} } });
  });

  it('refuses to start from an invalid fusion.yaml and leaves the file alone', async () => {
    const path = join(home.path, FUSION_CONFIG_FILE);
    const text = 'receivers: {}\nviews: {}\npipes:\n  p: { receiver: r, views: [v] }\n';
    await writeFile(path, text);
    let caught: unknown;
    try {
      await loadFusionConfig(home.path);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(FusionConfigError);
    expect((caught as FusionConfigError).issues.map((i) => i.path)).to.deep.equal(['pipes.p.receiver', 'pipes.p.views.0']);
    expect(await readFile(path, 'utf8')).to.equal(text);
  });

  it('lists the receiver and view drivers with their parameters', () => {
    const names = FUSION_DRIVERS.map((d) => `${d.kind}:${d.name}`);
    expect(names).to.deep.equal(['receiver:http', 'view:fs']);
    const http = FUSION_DRIVERS.find((d) => d.name === 'http')!;
    expect(http.params.map((p) => p.name)).to.include.members(['session_timeout_seconds', 'heartbeat_interval_seconds', 'api_keys']);
  });
});
