/**
 * The catalogue of drivers an agent config may name. Fusion validates configs
 * against it before storing them; the agent maps each name to an implementation
 * in its driver registry. Each entry documents the parameters the driver reads.
 */
export interface DriverParam {
  name: string;
  type: 'string' | 'number' | 'boolean';
  required: boolean;
  description: string;
  default?: string | number | boolean;
}

export interface DriverInfo {
  name: string;
  kind: 'source' | 'sender';
  description: string;
  /** Meaning of the `uri` field for this driver. */
  uri: string;
  params: DriverParam[];
}

export const AGENT_DRIVERS: readonly DriverInfo[] = [
  {
    name: 'fs',
    kind: 'source',
    description: 'A directory tree on a local or NFS-mounted file system.',
    uri: 'absolute path of the root directory',
    params: [
      { name: 'audit_interval_sec', type: 'number', required: false, default: 300, description: 'seconds between full audit rescans (pipe setting, may be overridden per pipe)' },
      { name: 'realtime', type: 'boolean', required: false, default: true, description: 'watch the tree (inotify) and push changes within a second (pipe setting `realtime` overrides it)' },
      { name: 'max_watches', type: 'number', required: false, description: 'most directories to watch; default half of /proc/sys/fs/inotify/max_user_watches' },
    ],
  },
  {
    name: 'fusion',
    kind: 'sender',
    description: 'Pushes file records to a Fusion receiver over HTTP.',
    uri: 'base URL of Fusion, e.g. http://fusion:8102',
    params: [
      { name: 'credential.key', type: 'string', required: true, description: 'API key of the Fusion receiver' },
      { name: 'batch_size', type: 'number', required: false, default: 1000, description: 'records per HTTP request' },
    ],
  },
];

export function knownDrivers(kind: DriverInfo['kind']): string[] {
  return AGENT_DRIVERS.filter((d) => d.kind === kind).map((d) => d.name);
}
