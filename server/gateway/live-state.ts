import type { WsGateway } from './ws-gateway.js';

/** Whether an agent is connected, and the config it runs. */
export interface LiveState {
  online: boolean;
  /** Signature of the config it runs: its live connection's word, else its last record (`recorded`). */
  running: string | null;
}

export function liveState(gateway: Pick<WsGateway, 'get'> & Partial<Pick<WsGateway, 'isOnline'>>, agentId: string, recorded: string | null): LiveState {
  const conn = gateway.get(agentId);
  if (conn?.established) return { online: true, running: conn.runningSignature };
  // On another replica: what it runs is what its row records (written at hello and with each ACK).
  return { online: gateway.isOnline?.(agentId) ?? false, running: recorded };
}
