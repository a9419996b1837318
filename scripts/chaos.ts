/**
 * `npm run chaos [-- --kills 20 --agents 20]`: kills a Fusion process with
 * SIGKILL at random points of config saves, group rollouts, enrollments and
 * the command lifecycle while agents write, restarts it each time, and checks
 * that every acknowledged write is still there. Prints what it tried and what
 * was lost; exits 1 when anything acknowledged was lost.
 */
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { runChaos } from '../test/chaos/chaos-run.js';

const { values } = parseArgs({ options: { kills: { type: 'string' }, agents: { type: 'string' }, 'max-round-ms': { type: 'string' } } });
const kills = Number(values.kills ?? 20);
const agents = Number(values.agents ?? 20);
const maxRoundMs = Number(values['max-round-ms'] ?? 2000);

const started = Date.now();
console.log(`chaos: ${kills} kills, ${agents} agents sending status, rounds up to ${maxRoundMs} ms (${cpus().length} cores, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)})`);
const report = await runChaos({ kills, agents, maxRoundMs, log: (line) => console.log(`  ${line}`) });
const total = Object.values(report.acked).reduce((a, b) => a + b, 0);
console.log(`\nkills: ${report.kills}`);
console.log(`acknowledged writes: ${total} (${Object.entries(report.acked).map(([kind, n]) => `${n} ${kind}s`).join(', ')})`);
console.log(`lost: ${report.lost.length}${report.lost.length ? `\n  ${report.lost.join('\n  ')}` : ''}`);
console.log(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(report.lost.length === 0 && report.kills === kills ? 0 : 1);
