import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { SECRET_KEY_ENV, SecretCipher } from '../../server/secrets/secret-cipher.js';
import { SecretService } from '../../server/secrets/secret-service.js';
import { SecretStore } from '../../server/secrets/secret-store.js';
import type { Sql } from '../../server/store/sql.js';
import { HttpError } from '../../server/http/errors.js';
import { describeOnBackends } from '../harness/test-sql.js';

const cipher = (): SecretCipher => SecretCipher.open('/nonexistent', { [SECRET_KEY_ENV]: randomBytes(32).toString('hex') });

/** An agent's config revision whose document is `document`. */
async function putConfig(sql: Sql, agentId: string, revision: number, document: object): Promise<void> {
  const text = JSON.stringify(document);
  const signature = `sig-${agentId}-${revision}`;
  await sql.run('INSERT INTO config_documents (signature, document) VALUES (?, ?)', [signature, text]);
  await sql.run(
    `INSERT INTO agent_config_revisions (agent_id, revision, signature, format, source_text, author, created_at) VALUES (?, ?, ?, 'json', ?, 'admin', ?)`,
    [agentId, revision, signature, text, Date.now()],
  );
}

async function rejection(promise: Promise<unknown>): Promise<HttpError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(HttpError);
    return err as HttpError;
  }
  throw new Error('expected a rejection');
}

describeOnBackends('secret store', (db) => {
  it('creates once, reads back decrypted, keeps only ciphertext at rest, rotates and deletes', async () => {
    const store = new SecretStore(db.sql, cipher());
    const created = await store.create('db-password', 'hunter2-hunter2', 'alice');
    expect(created).to.include({ name: 'db-password', version: 1, updated_by: 'alice' });
    expect(created!.created_at).to.equal(created!.updated_at);
    expect(await store.create('db-password', 'other', 'bob'), 'the name is taken').to.equal(undefined);

    expect(await store.get('db-password')).to.deep.equal(created);
    const first = await store.values(['db-password', 'missing']);
    expect(first.values).to.deep.equal({ 'db-password': 'hunter2-hunter2' });
    expect(Object.keys(first.versions)).to.deep.equal(['db-password']);
    const raw = await db.sql.get<{ value: Uint8Array }>('SELECT value FROM secrets WHERE name = ?', ['db-password']);
    expect(Buffer.from(raw!.value).includes(Buffer.from('hunter2'))).to.equal(false);

    const rotated = await store.rotate('db-password', 'correct-horse', 'bob');
    expect(rotated).to.include({ name: 'db-password', version: 2, updated_by: 'bob', created_at: created!.created_at });
    const second = await store.values(['db-password']);
    expect(second.values).to.deep.equal({ 'db-password': 'correct-horse' });
    expect(second.versions['db-password']).to.not.equal(first.versions['db-password']);
    expect(await store.allValues()).to.deep.equal({ 'db-password': 'correct-horse' });
    expect(await store.rotate('missing', 'x', 'bob')).to.equal(undefined);

    expect(await store.remove('db-password')).to.equal(true);
    expect(await store.remove('db-password')).to.equal(false);
    expect(await store.get('db-password')).to.equal(undefined);
    // Created again: version 1, but a version id no agent has seen.
    await store.create('db-password', 'hunter2-hunter2', 'alice');
    expect((await store.values(['db-password'])).versions['db-password']).to.not.equal(first.versions['db-password']);
  });

  it('lists by name and tells the unknown names apart', async () => {
    const store = new SecretStore(db.sql, cipher());
    for (const name of ['b', 'a', 'c']) await store.create(name, `value-${name}`, 'alice');
    expect((await store.list()).map((r) => r.name)).to.deep.equal(['a', 'b', 'c']);
    expect(await store.unknown(['a', 'x', 'c', 'y'])).to.deep.equal(['x', 'y']);
    expect(await store.unknown([])).to.deep.equal([]);
  });

  it('never loses a version to concurrent rotations, and creates a name once however many try', async () => {
    const store = new SecretStore(db.sql, cipher());
    await store.create('token', 'v1', 'alice');
    const rotations = await Promise.all(Array.from({ length: 20 }, (_, i) => store.rotate('token', `value-${i}`, `admin-${i}`)));
    expect(rotations.map((r) => r!.version).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 2));
    const last = rotations.find((r) => r!.version === 21)!;
    expect(await store.get('token')).to.deep.equal(last);
    expect((await store.values(['token'])).values.token).to.equal(`value-${last.updated_by.slice('admin-'.length)}`);

    const creates = await Promise.all(Array.from({ length: 10 }, (_, i) => store.create('fresh', `value-${i}`, `admin-${i}`)));
    const winners = creates.filter((r) => r !== undefined);
    expect(winners).to.have.length(1);
    expect((await store.values(['fresh'])).values.fresh).to.equal(`value-${winners[0]!.updated_by.slice('admin-'.length)}`);
  });

  it("names the agents whose latest config and the groups whose current template reference a secret", async () => {
    const store = new SecretStore(db.sql, cipher());
    await putConfig(db.sql, 'node-1', 1, { key: '${secret:a_b}' });
    await putConfig(db.sql, 'node-2', 1, { key: '${secret:a_b}' });
    await putConfig(db.sql, 'node-2', 2, { key: 'none' });
    // `_` is no wildcard: this is another secret.
    await putConfig(db.sql, 'node-3', 1, { key: '${secret:axb}' });
    const now = Date.now();
    await db.sql.run("INSERT INTO config_groups (name, revision, signature, created_at, updated_at) VALUES ('g', 2, 's2', ?, ?)", [now, now]);
    for (const [revision, template] of [[1, 'none'], [2, 'key: k-${secret:a_b}']] as const) {
      await db.sql.run("INSERT INTO group_template_revisions (group_name, revision, signature, template, author, created_at) VALUES ('g', ?, ?, ?, 'admin', ?)", [revision, `s${revision}`, template, now]);
    }
    expect(await store.users('a_b')).to.deep.equal({ agents: ['node-1'], groups: ['g'] });
    expect(await store.users('axb')).to.deep.equal({ agents: ['node-3'], groups: [] });
    expect(await store.users('other')).to.deep.equal({ agents: [], groups: [] });
  });
});

describeOnBackends('secret service', (db) => {
  it('refuses unknown references, resolves bundles at the current version, redacts reports and refuses deleting a used secret', async () => {
    const service = new SecretService(new SecretStore(db.sql, cipher()));
    const document = { senders: { out: { credential: { key: '${secret:ingest}', other: 'k-${secret:group-key}' } } } };
    const unknown = await rejection(service.requireKnown(document));
    expect(unknown.status).to.equal(400);
    expect(unknown.code).to.equal('unknown_secret');
    expect(unknown.details).to.deep.equal({ secrets: ['group-key', 'ingest'] });

    await service.create('ingest', 'ingest-value-1', 'alice');
    await service.create('group-key', 'group-value-1', 'alice');
    expect((await rejection(service.create('ingest', 'x', 'alice'))).code).to.equal('secret_exists');
    await service.requireKnown(document);
    expect(await service.bundleFor({ plain: 'no references' })).to.equal(null);
    const before = await service.bundleFor(document);
    expect(before!.values).to.deep.equal({ ingest: 'ingest-value-1', 'group-key': 'group-value-1' });

    const rotated: string[] = [];
    service.on('rotated', (name) => rotated.push(name));
    expect(await service.rotate('ingest', 'ingest-value-2', 'bob')).to.include({ version: 2 });
    expect(rotated).to.deep.equal(['ingest']);
    const after = await service.bundleFor(document);
    expect(after!.values.ingest).to.equal('ingest-value-2');
    expect(after!.digest).to.not.equal(before!.digest);
    expect((await rejection(service.rotate('missing', 'x', 'bob'))).status).to.equal(404);

    const report = await service.redactReported({ a: 'Bearer ingest-value-2', b: ['group-value-1'] });
    expect(report).to.deep.equal({ a: 'Bearer ${secret:ingest}', b: ['${secret:group-key}'] });

    await putConfig(db.sql, 'node-1', 1, document);
    const inUse = await rejection(service.remove('ingest'));
    expect(inUse.code).to.equal('secret_in_use');
    expect(inUse.details).to.deep.equal({ agents: ['node-1'], groups: [] });
    expect((await service.list()).map((s) => [s.name, s.version, s.users.agents])).to.deep.equal([
      ['group-key', 1, ['node-1']],
      ['ingest', 2, ['node-1']],
    ]);
    await putConfig(db.sql, 'node-1', 2, { plain: true });
    await service.remove('ingest');
    expect((await rejection(service.get('ingest'))).status).to.equal(404);
  });
});
