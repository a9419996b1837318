import { expect } from 'chai';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ConfigCache, configCachePath } from '../../agent/config/config-cache.js';
import { tempHome } from '../harness/temp-home.js';
import { configDoc, memoryLogger, signed } from './agent-fixture.js';

describe('agent config cache', () => {
  let home: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    home = await tempHome('agent-cache-');
  });
  afterEach(async () => {
    await home.remove();
  });

  it('writes the remote config atomically with mode 0600 and reads it back', async () => {
    const { logger } = memoryLogger();
    const cache = new ConfigCache(home.path, logger);
    expect(await cache.load()).to.equal(null);
    const first = signed(configDoc('/srv/a'));
    const second = signed(configDoc('/srv/b'));
    await cache.save({ revision: 1, signature: first.signature, document: first.document });
    await cache.save({ revision: 2, signature: second.signature, document: second.document });

    const file = configCachePath(home.path);
    expect(file).to.equal(path.join(home.path, 'agent-state', 'config-cache.json'));
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect(await readdir(path.dirname(file))).to.deep.equal(['config-cache.json']); // no temporary file left behind
    const loaded = await cache.load();
    expect(loaded).to.deep.include({ revision: 2, signature: second.signature, document: second.document });
    expect(Date.parse(loaded!.saved_at)).to.be.closeTo(Date.now(), 5000);
    expect(JSON.parse(await readFile(file, 'utf8'))).to.deep.equal(loaded);
  });

  it('ignores a corrupt cache with a warning', async () => {
    const { logger, lines } = memoryLogger();
    const cache = new ConfigCache(home.path, logger);
    await mkdir(path.dirname(cache.path), { recursive: true });
    await writeFile(cache.path, '{"revision": 1, "signa');
    expect(await cache.load()).to.equal(null);
    await writeFile(cache.path, JSON.stringify({ revision: 'one', document: [] }));
    expect(await cache.load()).to.equal(null);
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warnings).to.deep.equal(['config cache is not JSON; ignoring it', 'config cache is malformed; ignoring it']);
  });

  it('ignores a cache whose document does not match its signature', async () => {
    const { logger, lines } = memoryLogger();
    const cache = new ConfigCache(home.path, logger);
    const a = signed(configDoc('/srv/a'));
    const b = signed(configDoc('/srv/b'));
    await cache.save({ revision: 1, signature: a.signature, document: b.document });
    expect(await cache.load()).to.equal(null);
    expect(lines.some((l) => l.level === 40 && String(l.msg).includes('does not match its signature'))).to.equal(true);
  });
});
