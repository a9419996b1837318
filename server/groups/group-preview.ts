import { PreviewBuilder, type PreviewCandidate, type PreviewPage, type PreviewPageOptions } from '../config/config-preview.js';
import type { ConfigService } from '../config/config-service.js';
import { liveState, type LiveState } from '../gateway/live-state.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { GroupStore, MemberForRender } from './group-store.js';
import { parseTemplate, renderMembers, type MemberFailure, type RenderedMember } from './member-renderer.js';
import { rolloutBatches } from './rollout-plan.js';
import type { RolloutStrategy } from './rollout-strategy.js';

/** A preview of a group template change: the page, and how the rollout would be cut. */
export interface TemplatePreview extends PreviewPage {
  group: string;
  /** The group's current template revision (the change would be the next one). */
  from_revision: number;
  strategy: RolloutStrategy;
  batch_count: number;
}

/** A rendered member as a preview candidate. */
export function renderedCandidate(r: RenderedMember, live: LiveState, batch: number | null): PreviewCandidate {
  return {
    agent_id: r.member.agent_id,
    document: r.document,
    signature: r.signature,
    errors: [],
    desired_signature: r.member.desired_signature,
    running_signature: live.running,
    online: live.online,
    batch,
  };
}

/** A member that does not render, as a preview candidate. */
export function failedCandidate(f: MemberFailure, member: MemberForRender | undefined, live: LiveState): PreviewCandidate {
  return {
    agent_id: f.agent_id,
    document: null,
    signature: null,
    errors: f.errors,
    desired_signature: member?.desired_signature ?? null,
    running_signature: live.running,
    online: live.online,
    batch: null,
  };
}

/**
 * Dry runs of group template changes (a save, a roll back): every member is
 * rendered and split into batches exactly as the save would, and nothing is
 * stored. A member that does not render is listed with its problems rather
 * than refusing the preview, so one answer shows everything a save would hit.
 */
export class GroupPreviews {
  constructor(
    private readonly deps: { groups: GroupStore; gateway: WsGateway; service: ConfigService },
  ) {}

  template(group: { name: string; revision: number }, text: string, strategy: RolloutStrategy, page: PreviewPageOptions): TemplatePreview {
    const { template } = parseTemplate(text);
    const members = this.deps.groups.membersForRender(group.name);
    const { rendered, failures } = renderMembers(template, members);
    const live = new Map(members.map((m) => [m.agent_id, liveState(this.deps.gateway, m.agent_id, m.running_signature)]));
    const batches = rolloutBatches(rendered, (r) => live.get(r.member.agent_id)!.online, strategy);
    const candidates: PreviewCandidate[] = [];
    batches.forEach((batch, index) => {
      for (const r of batch) candidates.push(renderedCandidate(r, live.get(r.member.agent_id)!, index + 1));
    });
    const byId = new Map(members.map((m) => [m.agent_id, m]));
    for (const f of failures) candidates.push(failedCandidate(f, byId.get(f.agent_id), live.get(f.agent_id)!));
    candidates.sort((a, b) => (a.agent_id < b.agent_id ? -1 : a.agent_id > b.agent_id ? 1 : 0));
    const built = this.builder().page(candidates, page);
    return { group: group.name, from_revision: group.revision, strategy, batch_count: batches.length, ...built };
  }

  /** A builder that reads base documents from the config store. */
  builder(): PreviewBuilder {
    return new PreviewBuilder((signature) => this.deps.service.document(signature));
  }
}
