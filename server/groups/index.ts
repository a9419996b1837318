import { Router } from 'express';
import type { AgentBus } from '../bus/agent-bus.js';
import type { Logger } from '../../shared/logger.js';
import type { TokenStore } from '../auth/token-store.js';
import type { ConfigService } from '../config/config-service.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentStore } from '../store/agent-store.js';
import type { Sql } from '../store/sql.js';
import { changeRoutes } from './change-routes.js';
import { ChangeService } from './change-service.js';
import { ChangeStore } from './change-store.js';
import { GroupQueues } from './concurrent-change.js';
import { GroupPreviews } from './group-preview.js';
import { groupRoutes } from './group-routes.js';
import { GroupService } from './group-service.js';
import { GroupStore } from './group-store.js';
import { TemplateCache } from './member-renderer.js';
import { MemberService } from './member-service.js';
import { RolloutEngine } from './rollout-engine.js';
import { rolloutRoutes } from './rollout-routes.js';
import { RolloutStore } from './rollout-store.js';
import { RuleService } from './rule-service.js';
import { RuleStore } from './rule-store.js';
import { ALL_AT_ONCE } from './rollout-strategy.js';

export type { RolloutProgress } from './rollout-engine.js';

/** Who an automatic roll back (`on_halt: rollback`) is recorded as. */
export const AUTOMATIC_ROLLBACK_AUTHOR = 'fusion (on_halt: rollback)';

export interface GroupsDeps {
  sql: Sql;
  tokens: TokenStore;
  service: ConfigService;
  agents: AgentStore;
  gateway: WsGateway;
  log: Logger;
  /** Replicas: acknowledgements and rollout changes are handed to the replica that follows the rollouts on it. */
  bus?: AgentBus | undefined;
  /** Follow the running rollouts from the start (default). False: the caller calls `engine.lead()` once it holds the rollouts lease. */
  followRollouts?: boolean | undefined;
}

/** Config groups and staged rollouts, wired into Fusion. */
export interface Groups {
  groups: GroupService;
  members: MemberService;
  engine: RolloutEngine;
  changes: ChangeService;
  /** Group rules: call `reconcile(agentIds)` after agents' labels change. */
  rules: RuleService;
  /** Mount at `/api/v1/management`. */
  router: Router;
  stop(): void;
}

/**
 * Builds the group services and hooks them into the gateway and the config
 * service: per-agent config saves are refused for group members, and a
 * `hello` is handled here BEFORE the config channel answers it (the listener
 * is prepended, and the gateway awaits it), so an agent joining its
 * bootstrap group is sent the group's config in the same exchange. Call
 * before or after the ConfigChannel is made: the order of listeners does not
 * depend on it. Reads the running rollouts and soaks from the database.
 */
export async function createGroups(deps: GroupsDeps): Promise<Groups> {
  const store = new GroupStore(deps.sql, (agentId) => deps.agents.applyingOf(agentId));
  const rollouts = await RolloutStore.open(deps.sql);
  const templates = new TemplateCache(store);
  const queues = new GroupQueues();
  const engine = new RolloutEngine({
    groups: store,
    rollouts,
    templates,
    service: deps.service,
    gateway: deps.gateway,
    log: deps.log,
    pipesOf: async (agentId) => (await deps.agents.get(agentId))?.pipes ?? [],
    bus: deps.bus,
  });
  const groups = new GroupService({ sql: deps.sql, queues, groups: store, rollouts, templates, engine, checkSecrets: async (template, locked) => await deps.service.checkSecrets(template, locked), bus: deps.bus });
  deps.bus?.subscribe('group_deleted', (m) => templates.forget(m.group));
  engine.onHaltRollback(async (record, reason) => {
    const saved = await groups.rollbackRollout(record.id, AUTOMATIC_ROLLBACK_AUTHOR, ALL_AT_ONCE, `halted (${reason}); rolled back automatically (on_halt: rollback)`);
    deps.log.warn({ rollout_id: record.id, group: record.group_name, rollback: saved.rollout?.id ?? null }, 'halted rollout rolled back (on_halt: rollback)');
  });
  const members = new MemberService({
    groups: store,
    queues,
    gateway: deps.gateway,
    templates,
    engine,
    service: deps.service,
    agents: deps.agents,
    log: deps.log,
    // Read from the token the connection was authenticated with, at the upgrade.
    enrollmentGroup: (conn) => conn.enrollmentGroup,
  });
  deps.service.setGroupLookup((agentId) => members.groupOf(agentId));
  const rules = new RuleService({ groups: store, rules: new RuleStore(deps.sql), members, agents: deps.agents, log: deps.log });
  members.setRuleLookup((agentId) => rules.groupFor(agentId));
  deps.gateway.prependListener('frame', (conn, frame) => {
    if (frame.type === 'hello') return members.onHello(conn, frame);
  });
  const previews = new GroupPreviews({ groups: store, gateway: deps.gateway, service: deps.service });
  const changes = new ChangeService({ changes: new ChangeStore(deps.sql), groups, store, members });
  const router = Router();
  router.use(groupRoutes({ tokens: deps.tokens, groups, members, rollouts, previews, changes, rules, store }));
  router.use(rolloutRoutes({ tokens: deps.tokens, groups, engine, rollouts, gateway: deps.gateway, previews, changes }));
  router.use(changeRoutes({ tokens: deps.tokens, changes, groups, previews, members, store }));
  if (deps.followRollouts !== false) await engine.start();
  return { groups, members, engine, changes, rules, router, stop: () => engine.stop() };
}
