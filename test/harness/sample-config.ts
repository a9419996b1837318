import YAML from 'yaml';

/**
 * A valid agent config with `pipes` pipes, each over its own fs source, all
 * sending to one Fusion sender. `root` is the directory the sources live under.
 */
export function sampleConfig(options: { pipes?: number; root?: string; fusionUrl?: string; apiKey?: string } = {}): Record<string, unknown> {
  const count = options.pipes ?? 1;
  const root = options.root ?? '/tmp';
  const sources: Record<string, unknown> = {};
  const pipes: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    sources[`src-${i}`] = { driver: 'fs', uri: `${root}/data-${i}` };
    pipes[`pipe-${i}`] = { source: `src-${i}`, sender: 'fusion-main', audit_interval_sec: 300 };
  }
  return {
    sources,
    senders: {
      'fusion-main': { driver: 'fusion', uri: options.fusionUrl ?? 'http://127.0.0.1:1', credential: { key: options.apiKey ?? 'test-key' } },
    },
    pipes,
  };
}

export function sampleYaml(options: Parameters<typeof sampleConfig>[0] = {}): string {
  return `# sample agent config\n${YAML.stringify(sampleConfig(options))}`;
}
