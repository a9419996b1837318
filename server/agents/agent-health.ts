/** An agent's health at a glance, with the reasons behind anything less than healthy. */
export type Health = 'healthy' | 'degraded' | 'unhealthy';
export const HEALTH_VALUES: readonly Health[] = ['healthy', 'degraded', 'unhealthy'];

/** How long a running config may differ from the desired one before it counts as drift (a push and apply take moments). */
export const DRIFT_GRACE_MS = 60_000;

export interface HealthInput {
  online: boolean;
  /** Config state against the desired config (null: none stored). */
  configState: 'pending' | 'applying' | 'applied' | 'failed' | null;
  configError: string | null;
  drift: boolean;
  pipes: unknown[];
}

/**
 * Health from what Fusion knows: an offline agent, a refused config or a
 * pipe in error is unhealthy; drift (the agent runs something other than its
 * desired config past the grace period) is degraded; the rest is healthy.
 */
export function agentHealth(input: HealthInput): { status: Health; reasons: string[] } {
  const unhealthy: string[] = [];
  const degraded: string[] = [];
  if (!input.online) unhealthy.push('offline');
  if (input.configState === 'failed') unhealthy.push(`config refused: ${input.configError ?? 'failed'}`);
  for (const pipe of input.pipes as Array<{ id?: unknown; state?: unknown; last_error?: unknown }>) {
    if (pipe?.state === 'error') unhealthy.push(`pipe ${String(pipe.id)}: ${typeof pipe.last_error === 'string' ? pipe.last_error : 'error'}`);
  }
  if (input.drift) degraded.push('runs a config other than its desired one');
  if (unhealthy.length) return { status: 'unhealthy', reasons: [...unhealthy, ...degraded] };
  if (degraded.length) return { status: 'degraded', reasons: degraded };
  return { status: 'healthy', reasons: [] };
}

/**
 * Drift: the config the agent last said it runs — hello, an ACK, its status
 * frame (which comes at least every minute), or a `report_config` answer,
 * whichever is newest — differs from the desired one. A report counts at
 * once; what hello, ACKs and status frames say counts after the grace period
 * since the desired config was saved and since the agent connected (a push
 * takes moments). Never for an agent with no desired config, nor while it is
 * applying one.
 */
export function isDrifting(input: {
  desiredSignature: string | null;
  desiredSavedAt: number | null;
  running: string | null;
  /** When the agent last said it runs `running`. */
  runningAt: number | null;
  /** Its latest `report_config` answer: counts when newer than `runningAt`. */
  reported: { signature: string; at: number } | null;
  connectedAt: number | null;
  configState: HealthInput['configState'];
  now: number;
  graceMs: number;
}): boolean {
  if (!input.desiredSignature || input.configState === 'applying') return false;
  const reportIsNewer = input.reported !== null && (input.running === null || input.reported.at > (input.runningAt ?? 0));
  // A report_config answer says what runs at that moment: it needs no grace period.
  if (reportIsNewer) return input.reported!.signature !== input.desiredSignature;
  if (input.running === null || input.running === input.desiredSignature) return false;
  const since = Math.max(input.desiredSavedAt ?? 0, input.connectedAt ?? 0);
  return input.now - since > input.graceMs;
}
