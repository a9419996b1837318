import { Router } from 'express';
import type { Logger } from '../../shared/logger.js';
import { AgentId, PullIdentity, Signature, type PullAnswer } from '../../shared/protocol/index.js';
import type { TokenStore } from '../auth/token-store.js';
import type { SecretBundle } from '../config/config-plan.js';
import type { ConfigService } from '../config/config-service.js';
import type { MemberService } from '../groups/member-service.js';
import type { PollPresence } from '../agents/poll-presence.js';
import type { AgentStore } from '../store/agent-store.js';
import { authenticateAgent, tokenGroup } from './agent-request-auth.js';
import { HttpError, notFound } from './errors.js';
import { parseBody } from './parse-body.js';
import type { PollAcknowledgements } from './poll-acknowledgements.js';

export interface PullRouteDeps {
  tokens: TokenStore;
  service: ConfigService;
  agents: AgentStore;
  members: Pick<MemberService, 'onPoll'>;
  acknowledgements: PollAcknowledgements;
  presence: PollPresence;
  log: Logger;
  /** Values and version digest of the secrets a document references (null when none). */
  secretsFor?: (document: Record<string, unknown>) => Promise<SecretBundle | null>;
}

/**
 * `GET /api/v1/control/configs/pull?agent_id=&current_signature=[&current_secrets_digest=&group=&hostname=&agent_version=&poll_interval_sec=]`:
 * the polling fallback for agents that cannot hold a WebSocket. Same
 * credentials as the socket; 304 when the agent is current (its ACK), else the
 * desired document ({@link PullAnswer}) with the values of the secrets it
 * references (a rotation, same signature but another digest, is a new answer). Only the agent's own credential opens it (an enrollment
 * token only enrols, see control-identity-routes.ts). `group` and `hostname`
 * do what they do in a `hello`: an agent in no group joins that group (when
 * its enrollment token is bound to it, or the group allows self-join) before
 * the pull is answered, and the host name is recorded (a member whose host
 * name changed is rendered again). Each pull keeps the agent online for twice
 * its `poll_interval_sec` (plus jitter) and records its version and address.
 */
export function pullRoute(deps: PullRouteDeps): Router {
  const router = Router();
  router.get('/pull', async (req, res) => {
    const id = AgentId.safeParse(req.query.agent_id);
    if (!id.success) throw new HttpError(400, 'bad_request', 'query parameter agent_id is missing or invalid');
    const current = req.query.current_signature;
    if (current !== undefined && current !== '' && !Signature.safeParse(current).success) {
      throw new HttpError(400, 'bad_request', 'current_signature must be sha256:<64 hex digits>');
    }
    const currentDigest = req.query.current_secrets_digest;
    if (currentDigest !== undefined && currentDigest !== '' && !Signature.safeParse(currentDigest).success) {
      throw new HttpError(400, 'bad_request', 'current_secrets_digest must be sha256:<64 hex digits>');
    }
    const { agent_version: version, poll_interval_sec: interval, attributes, ...identity } = parseBody(
      PullIdentity,
      {
        group: req.query.group,
        hostname: req.query.hostname,
        agent_version: req.query.agent_version,
        poll_interval_sec: req.query.poll_interval_sec,
        attributes: req.query.attributes,
      },
      'query parameters',
    );
    const auth = await authenticateAgent(deps.tokens, req, res, id.data);
    const enrolledGroup = await tokenGroup(deps.tokens, auth);
    await deps.agents.ensure(id.data);
    await deps.agents.touch(id.data);
    await deps.members.onPoll({ agentId: id.data, ...identity, tokenGroup: () => enrolledGroup }, () => deps.log.child({ agent_id: id.data }));
    if (identity.hostname !== undefined) await deps.agents.recordHostname(id.data, identity.hostname);
    const address = req.socket.remoteAddress ?? null;
    deps.presence.polled(id.data, interval, address);
    if (version !== undefined) await deps.agents.recordPollIdentity(id.data, version, address);
    if (attributes !== undefined) await deps.agents.recordAttributes(id.data, attributes);
    const desired = await deps.service.desired(id.data);
    if (!desired) throw notFound(`config for agent ${id.data}`);
    res.setHeader('X-Config-Signature', desired.signature);
    res.setHeader('ETag', `"${desired.signature}"`);
    const bundle = (await deps.secretsFor?.(desired.document)) ?? null;
    // The answer carries secret values: no proxy or browser may keep it.
    res.setHeader('Cache-Control', 'no-store');
    if (current === desired.signature && (bundle === null || currentDigest === bundle.digest)) {
      await deps.acknowledgements.current(id.data, current, desired.revision);
      res.status(304).end();
      return;
    }
    const answer: PullAnswer = { agent_id: id.data, revision: desired.revision, signature: desired.signature, document: desired.document };
    if (bundle) Object.assign(answer, { secrets: bundle.values, secrets_digest: bundle.digest });
    res.json(answer);
  });
  return router;
}
