import { AGENT_DRIVERS, type DriverParam } from '../../shared/config/index.js';
import { FUSION_DRIVERS } from '../dataplane/index.js';

/** One driver as the catalogue lists it. */
export interface DriverEntry {
  name: string;
  description: string;
  /** Meaning of the `uri` field (agent drivers only). */
  uri?: string;
  params: DriverParam[];
}

/** Every driver an agent config or fusion.yaml may name, per subsystem, with its parameters. */
export interface DriverCatalogue {
  agent: { sources: DriverEntry[]; senders: DriverEntry[] };
  fusion: { receivers: DriverEntry[]; views: DriverEntry[] };
}

/**
 * The catalogue comes from the same lists validation uses, so a driver shown
 * here is exactly a driver a config may name.
 */
export function driverCatalogue(): DriverCatalogue {
  const agent = (kind: 'source' | 'sender'): DriverEntry[] =>
    AGENT_DRIVERS.filter((d) => d.kind === kind).map((d) => ({ name: d.name, description: d.description, uri: d.uri, params: d.params.map((p) => ({ ...p })) }));
  const fusion = (kind: 'receiver' | 'view'): DriverEntry[] =>
    FUSION_DRIVERS.filter((d) => d.kind === kind).map((d) => ({ name: d.name, description: d.description, params: d.params.map((p) => ({ ...p })) }));
  return {
    agent: { sources: agent('source'), senders: agent('sender') },
    fusion: { receivers: fusion('receiver'), views: fusion('view') },
  };
}
