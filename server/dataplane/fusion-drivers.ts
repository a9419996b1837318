import type { DriverParam } from '../../shared/config/index.js';

/**
 * The catalogue of drivers fusion.yaml may name, with the parameters each
 * reads. Validation accepts only these names; the management API lists them.
 */
export interface FusionDriverInfo {
  name: string;
  kind: 'receiver' | 'view';
  description: string;
  params: DriverParam[];
}

export const FUSION_DRIVERS: readonly FusionDriverInfo[] = [
  {
    name: 'http',
    kind: 'receiver',
    description: 'Session-based HTTP ingest under /api/v1/pipe: senders open a session, heartbeat it and push batches of file records.',
    params: [
      { name: 'session_timeout_seconds', type: 'number', required: false, default: 30, description: 'a session silent for longer than this ends' },
      { name: 'heartbeat_interval_seconds', type: 'number', required: false, default: 10, description: 'heartbeat interval told to senders; shorter than the timeout' },
      { name: 'api_keys', type: 'string', required: false, description: 'list of { key, pipe_id }: the X-API-Key senders present and the pipe their data feeds' },
    ],
  },
  {
    name: 'fs',
    kind: 'view',
    description: 'An in-memory file tree built from the records of the pipes feeding it; queried by path, with totals.',
    params: [
      { name: 'api_keys', type: 'string', required: false, description: 'keys that may query the view, besides the keys of receivers feeding it' },
    ],
  },
];

/** Names of the drivers of one kind. */
export function knownFusionDrivers(kind: FusionDriverInfo['kind']): string[] {
  return FUSION_DRIVERS.filter((d) => d.kind === kind).map((d) => d.name);
}
