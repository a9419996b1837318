import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import pino from 'pino';
import type { TokenStore } from '../../server/auth/token-store.js';
import { LocalAgentBus } from '../../server/bus/local-bus.js';
import { ConfigService } from '../../server/config/config-service.js';
import type { WsGateway } from '../../server/gateway/ws-gateway.js';
import { createGroups, type Groups } from '../../server/groups/index.js';
import { AgentStore } from '../../server/store/agent-store.js';
import { ConfigStore } from '../../server/store/config-store.js';
import { openPostgres } from '../../server/store/pg-database.js';
import type { Sql } from '../../server/store/sql.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from '../harness/postgres.js';
import { MOUNT_TEMPLATE, withAudit } from './group-fixture.js';

/** The groups module of one Fusion process on `sql`, with no agent connected (a gateway that holds no sockets). */
async function groupsOn(sql: Sql): Promise<{ groups: Groups; configs: ConfigStore }> {
  const log = pino({ level: 'silent' });
  const configs = new ConfigStore(sql);
  const agents = new AgentStore(sql);
  const gateway = Object.assign(new EventEmitter(), { get: () => undefined }) as unknown as WsGateway;
  const groups = await createGroups({ sql, tokens: {} as TokenStore, service: new ConfigService(configs, new LocalAgentBus(log)), agents, gateway, log });
  return { groups, configs };
}

/**
 * Two Fusion processes on one PostgreSQL (two pools, two groups modules):
 * what one process queues, the other does at the same moment, so only the
 * group's lock and the checks under it keep their changes apart.
 */
describe('groups: two Fusion processes on one PostgreSQL', function () {
  let database: TempDatabase;
  const pools: Sql[] = [];

  before(async function () {
    await requirePostgres(this);
  });

  beforeEach(async () => {
    database = await createTempDatabase();
    for (let i = 0; i < 2; i++) pools.push(await openPostgres(database.url, { maxConnections: 4 }));
  });

  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.close();
    await database.drop();
  });

  it('give saves made at once one revision each, and members joining meanwhile the last one', async () => {
    const [a, b] = await Promise.all(pools.map((sql) => groupsOn(sql)));
    await a!.groups.groups.create({ name: 'nfs', description: '', text: MOUNT_TEMPLATE, author: 'admin' });
    for (let i = 0; i < 10; i++) await a!.groups.members.assign({ group: 'nfs', agentId: `node-${i}`, variables: { mount_point: `m${i}` }, override: null, assignedBy: 'admin' });

    const work: Array<Promise<unknown>> = [];
    for (let i = 0; i < 6; i++) {
      const side = i % 2 === 0 ? a! : b!;
      work.push(side.groups.groups.saveTemplate({ name: 'nfs', text: withAudit(MOUNT_TEMPLATE, 60 * (i + 1)), author: `p${i % 2}` }));
      work.push(side.groups.members.assign({ group: 'nfs', agentId: `late-${i}`, variables: { mount_point: `l${i}` }, override: null, assignedBy: 'admin' }));
    }
    await Promise.all(work);

    const history = await a!.groups.groups.history('nfs');
    expect(history.map((r) => r.revision)).to.deep.equal([7, 6, 5, 4, 3, 2, 1]);
    const members = await b!.groups.members.list('nfs');
    expect(members).to.have.length(16);
    for (const m of members) {
      expect(m.rendered_revision, m.agent_id).to.equal(7);
      expect((await a!.configs.latest(m.agent_id))?.author, m.agent_id).to.equal('group:nfs@7');
    }
    for (const side of [a!, b!]) side.groups.stop();
  });
});
