import { PreviewBuilder, type PreviewCandidate, type PreviewPage, type PreviewPageOptions } from '../config/config-preview.js';
import type { ConfigService } from '../config/config-service.js';
import { liveState, type LiveState } from '../gateway/live-state.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { GroupStore, MemberForRender } from './group-store.js';
import { parseTemplate, type MemberFailure, type RenderedMember } from './member-renderer.js';
import { PreviewRenderer, type RenderOutcome } from './preview-render.js';
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
 *
 * Rendering runs in slices that yield to the event loop, and remembers each
 * member's outcome per template (see PreviewRenderer), so a 10,000-member
 * preview neither stalls other requests nor is rendered again page by page.
 * Counts need only signatures; documents, patches and diffs are made for the
 * agents of the page the answer lists.
 */
export class GroupPreviews {
  private readonly renderer = new PreviewRenderer();

  constructor(
    private readonly deps: { groups: GroupStore; gateway: WsGateway; service: ConfigService },
  ) {}

  /** `parsed`: `text` already parsed off the event loop (server/parse), if it was. */
  async template(
    group: { name: string; revision: number },
    text: string,
    strategy: RolloutStrategy,
    page: PreviewPageOptions,
    parsed?: { value: unknown },
  ): Promise<TemplatePreview> {
    const { template, signature } = parseTemplate(text, parsed);
    const members = await this.deps.groups.membersForRender(group.name);
    const outcomes = await this.renderer.outcomes(group.name, template, signature, members);
    const live = new Map(members.map((m) => [m.agent_id, liveState(this.deps.gateway, m.agent_id, m.running_signature)]));
    const valid = outcomes.filter((o) => o.signature !== null);
    const batches = rolloutBatches(valid, (o) => live.get(o.member.agent_id)!.online, strategy);
    const candidates: PreviewCandidate[] = [];
    const byId = new Map<string, MemberForRender>();
    batches.forEach((batch, index) => {
      for (const o of batch) candidates.push(outcomeCandidate(o, live.get(o.member.agent_id)!, index + 1));
    });
    for (const o of outcomes) {
      byId.set(o.member.agent_id, o.member);
      if (o.signature === null) candidates.push(outcomeCandidate(o, live.get(o.member.agent_id)!, null));
    }
    candidates.sort((a, b) => (a.agent_id < b.agent_id ? -1 : a.agent_id > b.agent_id ? 1 : 0));
    const built = await this.builder().pageInSlices(candidates, page, (listed) => {
      const documents = this.renderer.documents(template, listed.filter((c) => c.signature !== null && page.details).map((c) => byId.get(c.agent_id)!));
      return listed.map((c) => ({ ...c, document: documents.get(c.agent_id) ?? null }));
    });
    return { group: group.name, from_revision: group.revision, strategy, batch_count: batches.length, ...built };
  }

  /** The members a template does not render for, in member order, with every problem (remembered outcomes are reused). */
  async failures(group: { name: string }, text: string): Promise<MemberFailure[]> {
    const { template, signature } = parseTemplate(text);
    const outcomes = await this.renderer.outcomes(group.name, template, signature, await this.deps.groups.membersForRender(group.name));
    return outcomes.filter((o) => o.signature === null).map((o) => ({ agent_id: o.member.agent_id, errors: o.errors }));
  }

  /** A builder that reads base documents from the config store. */
  builder(): PreviewBuilder {
    return new PreviewBuilder((signature) => this.deps.service.document(signature));
  }
}

/** A member's outcome as a preview candidate; its document is filled in only if it is listed (see PreviewBuilder.pageInSlices). */
function outcomeCandidate(o: RenderOutcome, live: LiveState, batch: number | null): PreviewCandidate {
  return {
    agent_id: o.member.agent_id,
    document: null,
    signature: o.signature,
    errors: o.errors,
    desired_signature: o.member.desired_signature,
    running_signature: live.running,
    online: live.online,
    batch,
  };
}
