import { expect } from 'chai';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { PgLease, leaseKey } from '../../server/cluster/lease.js';
import { eventually } from '../harness/eventually.js';
import { requirePostgres, TEST_POSTGRES_URL } from '../harness/postgres.js';

describe('leases on PostgreSQL (work that runs once in the cluster)', function () {
  this.timeout(30_000);
  let url: string;
  const leases: PgLease[] = [];

  before(async function () {
    await requirePostgres(this);
    url = TEST_POSTGRES_URL;
  });
  afterEach(async () => {
    for (const lease of leases.splice(0)) await lease.release();
  });

  function lease(name: string): { lease: PgLease; log: string[] } {
    const log: string[] = [];
    const l = new PgLease(name, { onAcquired: () => log.push('acquired'), onLost: () => log.push('lost') }, { url, retryMs: 100 });
    leases.push(l);
    return { lease: l, log };
  }

  it('is held by one replica at a time and moves when the holder gives it up', async () => {
    const name = `test-${process.pid}-${Date.now()}`;
    const a = lease(name);
    const b = lease(name);
    await a.lease.start();
    await b.lease.start();
    expect(a.lease.held).to.equal(true);
    expect(b.lease.held).to.equal(false);
    await a.lease.release();
    expect(a.log).to.deep.equal(['acquired', 'lost']);
    await eventually(() => expect(b.lease.held).to.equal(true));
    expect(b.log).to.deep.equal(['acquired']);
  });

  it('stops the work at once when the holder loses its connection, and takes the lease again later', async () => {
    const name = `test-${process.pid}-${Date.now()}-conn`;
    const a = lease(name);
    await a.lease.start();
    expect(a.lease.held).to.equal(true);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`fusion-lease-${name}`]);
    } finally {
      await admin.end();
    }
    await eventually(() => expect(a.log).to.deep.equal(['acquired', 'lost']));
    await eventually(() => expect(a.log).to.deep.equal(['acquired', 'lost', 'acquired']));
  });

  it('fails over within seconds when the holding process is killed with SIGKILL', async () => {
    const name = `test-${process.pid}-${Date.now()}-kill`;
    const key = leaseKey(name).toString();
    // Another process takes the advisory lock the lease uses, then is killed without a word.
    const holder = spawn(
      process.execPath,
      ['--input-type=module', '-e', `import pg from 'pg'; const c = new pg.Client({ connectionString: ${JSON.stringify(url)} }); await c.connect(); await c.query('SELECT pg_advisory_lock($1)', [${JSON.stringify(key)}]); console.log('held'); setInterval(() => {}, 1000);`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
      });
      const b = lease(name);
      await b.lease.start();
      expect(b.lease.held).to.equal(false);
      const killedAt = Date.now();
      holder.kill('SIGKILL');
      await eventually(() => expect(b.lease.held).to.equal(true), { timeoutMs: 10_000 });
      expect(Date.now() - killedAt).to.be.below(5_000);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
