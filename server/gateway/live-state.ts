import type { WsGateway } from './ws-gateway.js';

/** Whether an agent is connected, and the config it runs. */
export interface LiveState {
  online: boolean;
  /** Signature of the config it runs: its live connection's word, else its last record (`recorded`). */
  running: string | null;
}

export function liveState(gateway: Pick<WsGateway, 'get'>, agentId: string, recorded: string | null): LiveState {
  const conn = gateway.get(agentId);
  return conn?.established ? { online: true, running: conn.runningSignature } : { online: false, running: recorded };
}
