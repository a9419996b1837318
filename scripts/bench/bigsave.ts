/**
 * A large config save against everyone else: Fusion (a child process) is
 * probed with small requests (GET /healthz and GET /api/v1/management/agents,
 * one after another) first on its own, then while an admin saves a YAML
 * agent config of N KiB (up to the 1 MiB limit), `rounds` times. A megabyte of
 * YAML takes seconds to parse; Fusion parses and validates it on a worker
 * thread, so the probes' latency during the saves shows what the save costs
 * the event loop. Target: under 200 ms added to any probe.
 */
import { BENCH_ADMIN_TOKEN, BenchScope, sleep } from '../lib/bench-scope.js';
import { distribution, type Distribution } from '../lib/report.js';

export interface BigSaveResult {
  kib: number;
  document_bytes: number;
  sources: number;
  /** Probe latency with no save running (ms). */
  idle: Distribution;
  /** Probe latency while the saves run (ms). */
  during: Distribution;
  /** Duration of each save, from request to 201 (ms). */
  saves: Distribution;
  /** during.max - idle.p50: the most any probe was delayed. */
  added_max_ms: number;
}

/** A valid agent config of about `bytes` bytes: many fs sources, one sender, one pipe per source. */
export function bigConfigYaml(bytes: number): { text: string; sources: number } {
  const head = 'senders:\n  out: {driver: fusion, uri: "http://127.0.0.1:1", credential: {key: k}}\nsources:\n';
  const sources: string[] = [];
  const pipes: string[] = [];
  let size = head.length + 'pipes:\n'.length;
  for (let i = 0; size < bytes; i++) {
    const source = `  src-${i}: {driver: fs, uri: /data/volume-${i % 97}/tree-${i}}`;
    const pipe = `  p-${i}: {source: src-${i}, sender: out}`;
    if (size + source.length + pipe.length + 2 > bytes) break;
    sources.push(source);
    pipes.push(pipe);
    size += source.length + pipe.length + 2;
  }
  return { text: `${head}${sources.join('\n')}\npipes:\n${pipes.join('\n')}\n`, sources: sources.length };
}

export async function bigSave(kib: number, rounds: number): Promise<BigSaveResult> {
  const scope = new BenchScope();
  try {
    // On a loaded machine a megabyte of YAML can take longer than Fusion's 30 s parse limit; what is measured here is the others' latency.
    process.env.FUSION_PARSE_TIMEOUT_MS ??= '300000';
    const fusion = await scope.fusion({ logLevel: 'warn' });
    const { text, sources } = bigConfigYaml(Math.min(kib * 1024, 1024 * 1024 - 1024));
    const auth = { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` };
    const probePaths = ['/healthz', '/api/v1/management/agents'];
    let probing = true;
    let phase: 'idle' | 'during' = 'idle';
    const latencies = { idle: [] as number[], during: [] as number[] };
    let probeError: unknown;
    const prober = (async () => {
      for (let i = 0; probing; i++) {
        const started = performance.now();
        try {
          const res = await fetch(`${fusion.url}${probePaths[i % probePaths.length]}`, { headers: auth });
          await res.arrayBuffer();
        } catch (err) {
          probeError = err;
          return;
        }
        latencies[phase].push(performance.now() - started);
        await sleep(5);
      }
    })();
    scope.defer('stop probing', async () => {
      probing = false;
      await prober;
    });
    // Warm up (first requests compile code), then measure the idle baseline.
    await sleep(1500);
    latencies.idle.length = 0;
    await sleep(3000);
    phase = 'during';
    const saves: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const started = performance.now();
      const res = await fetch(`${fusion.url}/api/v1/management/agents/big-${r}/config`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/yaml' },
        body: text,
      });
      const body = await res.text();
      if (res.status !== 201) throw new Error(`save answered ${res.status}: ${body.slice(0, 300)}`);
      saves.push(performance.now() - started);
    }
    probing = false;
    await prober;
    if (probeError) throw new Error(`a probe failed: ${probeError instanceof Error ? probeError.message : String(probeError)}`);
    const idle = distribution(latencies.idle);
    const during = distribution(latencies.during);
    return {
      kib,
      document_bytes: Buffer.byteLength(text),
      sources,
      idle,
      during,
      saves: distribution(saves),
      added_max_ms: Math.round((during.max - idle.p50) * 10) / 10,
    };
  } finally {
    await scope.close();
  }
}
