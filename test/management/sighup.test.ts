import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../harness/eventually.js';
import { TEST_ADMIN_TOKEN } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { ARCHIVE_KEY, FUSION_YAML, FUSION_YAML_WITH_ARCHIVE } from './management-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('management: SIGHUP', () => {
  let child: ChildProcess | undefined;
  let home: Awaited<ReturnType<typeof tempHome>> | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await home?.remove();
  });

  it('re-reads fusion.yaml on SIGHUP; an invalid file is logged and changes nothing', async () => {
    home = await tempHome('fusion-hup-');
    await writeFile(join(home.path, 'fusion.yaml'), FUSION_YAML, { mode: 0o600 });
    child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', '--port', '0', '--home', home.path], {
      cwd: ROOT,
      env: { ...process.env, FUSION_ADMIN_TOKEN: TEST_ADMIN_TOKEN, FUSION_ENROLLMENT_TOKEN: 'hup-enrollment-0123456789', FUSTOR_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const url = await eventually(() => /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1], { timeoutMs: 20_000, message: 'fusion start' });
    const config = async (): Promise<any> =>
      (await fetch(`${url}/api/v1/management/config`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, accept: 'application/json' } })).json();
    const archiveSession = async (): Promise<number> => {
      const res = await fetch(`${url}/api/v1/pipe/sessions`, {
        method: 'POST',
        headers: { 'x-api-key': ARCHIVE_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: 'node-1', pipe_id: 'archive' }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    const before = await config();
    expect(await archiveSession()).to.equal(401);

    await writeFile(join(home.path, 'fusion.yaml'), FUSION_YAML_WITH_ARCHIVE);
    child.kill('SIGHUP');
    const after = await eventually(async () => {
      const state = await config();
      return state.applied_signature !== before.applied_signature && state;
    });
    expect(after.applied_signature).to.equal(after.signature);
    expect(await archiveSession()).to.equal(201);
    expect(output).to.include('fusion.yaml reloaded');

    await writeFile(join(home.path, 'fusion.yaml'), 'views: { v: { driver: nope } }\n');
    child.kill('SIGHUP');
    await eventually(() => output.includes('fusion.yaml reload failed'));
    expect((await config()).applied_signature).to.equal(after.applied_signature);
    expect(child.exitCode).to.equal(null, 'Fusion keeps running');
    expect(output).to.not.include(ARCHIVE_KEY, 'keys never reach the log');
  });
});
