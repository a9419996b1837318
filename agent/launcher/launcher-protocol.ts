/**
 * What the launcher and the agent it runs tell each other, over the Node IPC
 * channel of the child process (and its exit code). Both ends parse every
 * message with these schemas and ignore what does not match.
 */
import { z } from 'zod';

/** The agent exits with this code after it switched `current` to a new version: start what `current` names. */
export const RESTART_FOR_UPGRADE_EXIT_CODE = 75;

/** Set (to "1") in the environment of an agent the launcher runs; with the IPC channel it marks a supervised agent. */
export const LAUNCHER_ENV = 'FUSTOR_AGENT_LAUNCHER';

/** Agent → launcher: this version reached Fusion (it got `welcome`). */
export const HealthyMessage = z.object({ type: z.literal('fustor:healthy'), version: z.string() });
export type HealthyMessage = z.infer<typeof HealthyMessage>;

/** Every message an agent sends its launcher. */
export const AgentToLauncherMessage = z.discriminatedUnion('type', [HealthyMessage]);
export type AgentToLauncherMessage = z.infer<typeof AgentToLauncherMessage>;

/**
 * Launcher → agent, in answer to `healthy`: `committed` when an upgrade to this
 * version was on probation and is now kept; `not_pending` when no upgrade was on probation.
 */
export const UpgradeVerdictMessage = z.object({
  type: z.literal('fustor:upgrade_verdict'),
  verdict: z.enum(['committed', 'not_pending']),
});
export type UpgradeVerdictMessage = z.infer<typeof UpgradeVerdictMessage>;

/** Every message a launcher sends its agent. */
export const LauncherToAgentMessage = z.discriminatedUnion('type', [UpgradeVerdictMessage]);
export type LauncherToAgentMessage = z.infer<typeof LauncherToAgentMessage>;
