import pino from 'pino';
import { Agent, type AgentOptions } from '../../agent/agent.js';
import { tempHome } from './temp-home.js';

/** Where a test agent connects: a started Fusion (`startFusion`, `FusionProcess`) or anything with its URL and enrollment token. */
export interface AgentTarget {
  url: string;
  enrollmentToken: string;
}

export interface StartAgentOptions extends Partial<AgentOptions> {
  /** Resolve `startAgent` only after `agent.start()` resolved (default true). Pass false to start it yourself. */
  start?: boolean;
}

/** A real in-process agent and the temporary home it runs in. */
export interface TestAgent {
  agent: Agent;
  /** The agent's `FUSTOR_HOME` (a temporary directory unless `home` was given). */
  home: string;
  /** Stops the agent (closes its socket, stops its pipes) and removes its temporary home. Safe to call twice. */
  stop(): Promise<void>;
}

let counter = 0;

/**
 * Creates a real {@link Agent} dialling `fusion` with its enrollment token,
 * millisecond reconnect backoff, a short start-up wait and a silent logger
 * (set FUSTOR_TEST_LOG=debug to see its log), in a fresh temporary home.
 * Every option of the Agent can be overridden. Unless `start: false`, it
 * resolves once `agent.start()` has resolved, i.e. once the agent runs the
 * config Fusion sent, or after `connectTimeoutMs` without one.
 *
 * @example
 * const { agent, stop } = await startAgent(fusion, { agentId: 'node-1' });
 * expect(agent.snapshot().connected).to.equal(true);
 * await stop();
 */
export async function startAgent(fusion: AgentTarget, options: StartAgentOptions = {}): Promise<TestAgent> {
  const { start = true, ...agentOptions } = options;
  const temp = agentOptions.home ? undefined : await tempHome('agent-');
  const home = agentOptions.home ?? temp!.path;
  let agent: Agent;
  try {
    agent = new Agent({
      agentId: `test-agent-${++counter}`,
      controlPlaneUri: fusion.url,
      authToken: fusion.enrollmentToken,
      connectTimeoutMs: 1000,
      backoff: { baseMs: 20, capMs: 200, stableAfterMs: 60_000 },
      logger: pino({ level: process.env.FUSTOR_TEST_LOG ?? 'silent' }),
      ...agentOptions,
      home,
    });
  } catch (err) {
    await temp?.remove();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  const handle: TestAgent = {
    agent,
    home,
    stop() {
      stopped ??= (async () => {
        try {
          await agent.stop();
        } finally {
          await temp?.remove();
        }
      })();
      return stopped;
    },
  };
  if (start) {
    try {
      await agent.start();
    } catch (err) {
      await handle.stop();
      throw err;
    }
  }
  return handle;
}
