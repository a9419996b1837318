import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
/** The compiled tree's sources, as tsconfig.build.json lists them. */
const BUILT = ['shared', 'server', 'agent', 'cli', 'test/harness'];
/** Children run with plain node: no loader inherited from the test runner. */
const PLAIN_ENV = { ...process.env, NODE_OPTIONS: '' };

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Spawns with plain node; resolves once `ready` matches what it printed. */
async function start(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; output: () => string; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...PLAIN_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const match = await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}: ${output}`);
      return ready.exec(output) ?? undefined;
    },
    { timeoutMs: 15_000, message: `${args.join(' ')} to start` },
  );
  return { child, output: () => output, match };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Command lines of the direct children of `pid` (Linux /proc). */
async function childCommandLines(pid: number): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const statLine = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push((await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ').trim());
    } catch {
      // The process ended while the list was read.
    }
  }
  return out;
}

describe('the compiled build (dist/)', function () {
  this.timeout(30_000);
  let home: Awaited<ReturnType<typeof tempHome>>;
  let child: ChildProcess | undefined;
  let fusion: TestFusion | undefined;

  beforeEach(async () => {
    home = await tempHome('build-');
  });
  afterEach(async () => {
    await stop(child);
    child = undefined;
    await fusion?.stop();
    fusion = undefined;
    await home.remove();
  });

  it('is current: every source has its compiled file and the bundles are newer than every source (npm test builds first)', async () => {
    const stale: string[] = [];
    for (const dir of BUILT) {
      for (const source of await sources(dir)) {
        const compiled = join(ROOT, 'dist', source.replace(/\.ts$/, '.js'));
        const types = compiled.replace(/\.js$/, '.d.ts');
        if (!existsSync(compiled) || !existsSync(types) || (await stat(compiled)).mtimeMs < (await stat(join(ROOT, source))).mtimeMs) stale.push(source);
      }
    }
    // The bundles the bins run hold every module of Fusion and fustorctl.
    let newest = 0;
    for (const dir of ['shared', 'server', 'cli']) for (const source of await sources(dir)) newest = Math.max(newest, (await stat(join(ROOT, source))).mtimeMs);
    for (const bundle of ['dist/bin/fusion.cjs', 'dist/bin/fusion.cjs.cache', 'dist/bin/parse-worker.cjs', 'dist/bin/fustorctl.mjs']) {
      if (!existsSync(join(ROOT, bundle)) || (await stat(join(ROOT, bundle))).mtimeMs < newest) stale.push(bundle);
    }
    expect(stale, 'dist/ is missing or older than these sources: run npm run build').to.deep.equal([]);
  });

  it('runs Fusion through bin/fusion.js with plain node, serving the API and the ui/ of the repository root', async () => {
    const help = await run(process.execPath, ['dist/server/main.js', '--help'], { cwd: ROOT, env: PLAIN_ENV });
    expect(help.stdout).to.match(/^Usage: fusion /);
    const started = await start(['bin/fusion.js', '--port', '0', '--home', home.path], /"url":"(http:\/\/[^"]+)"/, { FUSION_ADMIN_TOKEN: 'build-admin-token-0123456789' });
    child = started.child;
    const url = started.match[1]!;
    const agents = await fetch(`${url}/api/v1/management/agents`, { headers: { authorization: 'Bearer build-admin-token-0123456789' } });
    expect(agents.status).to.equal(200);
    expect(await agents.json()).to.deep.include({ agents: [] });
    const page = await fetch(`${url}/ui/`);
    expect(page.status).to.equal(200);
    expect(await page.text()).to.equal(await readFile(join(ROOT, 'ui', 'index.html'), 'utf8'));
    // A config past 16 KiB is parsed, checked and signed on the parse pool's worker, bundled beside Fusion.
    const pipes = Array.from({ length: 300 }, (_, i) => `  p${i}:\n    source: s\n    sender: f\n    audit_interval_sec: 300\n`).join('');
    const text = `sources:\n  s:\n    driver: fs\n    uri: /srv/x\nsenders:\n  f:\n    driver: fusion\n    uri: http://127.0.0.1:1\n    credential:\n      key: k\npipes:\n${pipes}`;
    expect(text.length).to.be.greaterThan(16 * 1024);
    const saved = await fetch(`${url}/api/v1/management/agents/big-1/config`, {
      method: 'POST',
      headers: { authorization: 'Bearer build-admin-token-0123456789', 'content-type': 'application/yaml' },
      body: text,
    });
    expect(saved.status, await saved.clone().text()).to.equal(201);
    expect(((await saved.json()) as { signature: string }).signature).to.match(/^sha256:/);
  });

  it("runs the launcher from dist/, and the launcher runs dist/agent/main.js with plain node", async () => {
    fusion = await startFusion();
    const started = await start(
      ['bin/fustor-agent.js', '--home', home.path, '--agent-id', 'built-1', '--control-plane-uri', fusion.url, '--auth-token', fusion.enrollmentToken, '--backoff-base-ms', '50'],
      /./,
    );
    child = started.child;
    await eventually(async () => (await fusion!.json('GET', '/api/v1/management/agents/built-1')).body?.online === true, { timeoutMs: 15_000 });
    const agents = await childCommandLines(child.pid!);
    expect(agents).to.have.length(1);
    expect(agents[0]).to.equal(`${process.execPath} ${join(ROOT, 'dist', 'agent', 'main.js')} --home ${home.path} --agent-id built-1 --control-plane-uri ${fusion.url} --auth-token ${fusion.enrollmentToken} --backoff-base-ms 50`);
  });

  it('lets another project import fustor/testing as JavaScript with types, without tsx', async function () {
    this.timeout(60_000); // two Fusions (one a child process) and a type-check
    const project = join(home.path, 'consumer');
    await mkdir(join(project, 'node_modules'), { recursive: true });
    await symlink(ROOT, join(project, 'node_modules', 'fustor'), 'dir');
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    const program = [
      "import { startFusion, eventually, FusionProcess, CloseCode } from 'fustor/testing';",
      'const fusion = await startFusion();',
      'const agent = await fusion.rawAgent("consumer-1");',
      "await eventually(async () => (await fusion.json('GET', '/api/v1/management/agents/consumer-1')).body.online);",
      'agent.close();',
      'await fusion.stop();',
      'const child = await FusionProcess.start();',
      "const res = await child.api('/api/v1/management/agents');",
      'await child.stop();',
      "process.stdout.write(`${res.status} ${typeof CloseCode.Revoked}\\n`);",
    ].join('\n');
    await writeFile(join(project, 'check.mjs'), program);
    const out = await run(process.execPath, ['check.mjs'], { cwd: project, env: PLAIN_ENV });
    expect(out.stdout).to.equal('200 number\n');

    // The declarations type-check a TypeScript consumer (strict, NodeNext).
    await writeFile(join(project, 'check.ts'), `${program.replace('const fusion =', 'const fusion: TestFusion =').replace("} from 'fustor/testing';", ", type TestFusion } from 'fustor/testing';")}\nexport {};\n`);
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] },
        files: ['check.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    const checked = await run(tsc, ['-p', 'tsconfig.json'], { cwd: project, env: PLAIN_ENV }).catch((err: { stdout: string; code: number }) => err);
    expect(checked.stdout, relative(ROOT, project)).to.equal('');
  });
});
