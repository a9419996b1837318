import { createTwoFilesPatch } from 'diff';
import YAML from 'yaml';
import { diffDocuments, type ConfigIssue } from '../../shared/config/index.js';
import type { PatchOperation } from '../../shared/protocol/index.js';

/** One agent a change would reach, as the change would leave it (nothing stored). */
export interface PreviewCandidate {
  agent_id: string;
  /**
   * The config the change gives it (null when it does not render or
   * validate; may also be null until the candidate is listed, see
   * PreviewBuilder.pageInSlices).
   */
  document: Record<string, unknown> | null;
  signature: string | null;
  /** Why it does not render or validate (empty when it does). */
  errors: ConfigIssue[];
  /** What it should run now (its latest desired revision), if anything. */
  desired_signature: string | null;
  /** What it runs now, as its live connection or its last record says. */
  running_signature: string | null;
  online: boolean;
  /** 1-based rollout batch it would fall in (null: pushed at once, or not at all). */
  batch: number | null;
}

/** What the patch and diff of an entry are taken against. */
export type PreviewBase = 'running' | 'desired' | 'none';

/** One agent's line in a preview. */
export interface PreviewEntry {
  agent_id: string;
  /** Its desired config changes (a new revision would be stored and pushed). */
  changed: boolean;
  valid: boolean;
  errors: ConfigIssue[];
  online: boolean;
  batch: number | null;
  /** `running`: the document it runs now; `desired`: it runs nothing Fusion knows, so its desired config; `none`: neither. */
  base: PreviewBase;
  from_signature: string | null;
  to_signature: string | null;
  /** RFC 6902 patch from the base to the new config (what a patch frame would carry); absent when invalid or when details are off. */
  patch?: PatchOperation[];
  /** Unified diff of the two documents as YAML; absent when invalid or when details are off. */
  diff?: string;
}

export interface PreviewCounts {
  /** Every agent the change reaches. */
  total: number;
  /** Whose desired config changes. */
  changed: number;
  /** Whose desired config stays as it is. */
  unchanged: number;
  /** Whose config does not render or validate (a save would be refused). */
  invalid: number;
  /** Not connected now (they get the change when they reconnect). */
  offline: number;
}

export const PREVIEW_FILTERS = ['all', 'changed', 'unchanged', 'invalid', 'offline'] as const;
export type PreviewFilter = (typeof PREVIEW_FILTERS)[number];

export interface PreviewPageOptions {
  filter: PreviewFilter;
  offset: number;
  limit: number;
  /** Include each listed agent's patch and diff (default true). */
  details: boolean;
}

export const DEFAULT_PREVIEW_PAGE: PreviewPageOptions = { filter: 'all', offset: 0, limit: 100, details: true };

/** The per-agent part of a preview: complete counts, one page of agents. */
export interface PreviewPage {
  dry_run: true;
  counts: PreviewCounts;
  /** Agents matching the filter (the list is a page of these). */
  matching: number;
  filter: PreviewFilter;
  offset: number;
  limit: number;
  agents: PreviewEntry[];
}

/**
 * Builds previews. The patch and diff depend only on the base and target
 * documents, so a change that takes thousands of agents through the same step
 * computes each distinct step once; and only the listed page is diffed, while
 * the counts cover every agent.
 */
/** Listed agents whose documents, patches and diffs are made between two yields to the event loop. */
const PAGE_SLICE = 25;

export class PreviewBuilder {
  private readonly steps = new Map<string, { patch: PatchOperation[]; diff: string }>();
  private readonly documents = new Map<string, Promise<Record<string, unknown> | undefined>>();

  constructor(private readonly lookupDocument: (signature: string) => Promise<Record<string, unknown> | undefined>) {}

  /** The counts of every candidate and the page the options select, each listed agent with its patch and diff. */
  async page(candidates: readonly PreviewCandidate[], options: PreviewPageOptions): Promise<PreviewPage> {
    const { head, listed } = this.select(candidates, options);
    const agents: PreviewEntry[] = [];
    for (const c of listed) agents.push(await this.entry(c, options.details));
    return { ...head, agents };
  }

  /**
   * {@link page} for a large preview: counts need only signatures, and
   * `complete` fills in the documents of the listed candidates alone, a slice
   * at a time; between slices (of documents, patches and diffs) the event loop
   * serves others.
   */
  async pageInSlices(
    candidates: readonly PreviewCandidate[],
    options: PreviewPageOptions,
    complete: (listed: PreviewCandidate[]) => PreviewCandidate[],
  ): Promise<PreviewPage> {
    const { head, listed } = this.select(candidates, options);
    const agents: PreviewEntry[] = [];
    for (let at = 0; at < listed.length; at += PAGE_SLICE) {
      if (at > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const c of complete(listed.slice(at, at + PAGE_SLICE))) agents.push(await this.entry(c, options.details));
    }
    return { ...head, agents };
  }

  private select(candidates: readonly PreviewCandidate[], options: PreviewPageOptions): { head: Omit<PreviewPage, 'agents'>; listed: PreviewCandidate[] } {
    const counts: PreviewCounts = { total: candidates.length, changed: 0, unchanged: 0, invalid: 0, offline: 0 };
    const matching: PreviewCandidate[] = [];
    for (const c of candidates) {
      const valid = c.signature !== null;
      const changed = valid && c.signature !== c.desired_signature;
      if (!valid) counts.invalid++;
      else if (changed) counts.changed++;
      else counts.unchanged++;
      if (!c.online) counts.offline++;
      if (matches(options.filter, c, valid, changed)) matching.push(c);
    }
    const head = { dry_run: true as const, counts, matching: matching.length, filter: options.filter, offset: options.offset, limit: options.limit };
    return { head, listed: matching.slice(options.offset, options.offset + options.limit) };
  }

  async entry(c: PreviewCandidate, details = true): Promise<PreviewEntry> {
    const valid = c.signature !== null;
    const { base, signature: from, document: baseDocument } = await this.baseOf(c);
    const entry: PreviewEntry = {
      agent_id: c.agent_id,
      changed: valid && c.signature !== c.desired_signature,
      valid,
      errors: c.errors,
      online: c.online,
      batch: c.batch,
      base,
      from_signature: from,
      to_signature: c.signature,
    };
    if (valid && details && c.document !== null) Object.assign(entry, this.step(from, baseDocument ?? {}, c.signature!, c.document));
    return entry;
  }

  private async baseOf(c: PreviewCandidate): Promise<{ base: PreviewBase; signature: string | null; document: Record<string, unknown> | undefined }> {
    for (const [base, signature] of [['running', c.running_signature], ['desired', c.desired_signature]] as const) {
      if (signature === null) continue;
      const document = await this.document(signature);
      if (document) return { base, signature, document };
    }
    return { base: 'none', signature: null, document: undefined };
  }

  private document(signature: string): Promise<Record<string, unknown> | undefined> {
    let document = this.documents.get(signature);
    if (document === undefined) this.documents.set(signature, (document = this.lookupDocument(signature)));
    return document;
  }

  private step(from: string | null, base: Record<string, unknown>, to: string, target: Record<string, unknown>): { patch: PatchOperation[]; diff: string } {
    const key = `${from ?? '-'}>${to}`;
    let step = this.steps.get(key);
    if (!step) {
      const before = from === null ? '' : YAML.stringify(base);
      const diff = createTwoFilesPatch(label(from, 'current'), label(to, 'new'), before, YAML.stringify(target), undefined, undefined, { context: 3 });
      step = { patch: diffDocuments(base, target) as PatchOperation[], diff };
      this.steps.set(key, step);
    }
    return step;
  }
}

function label(signature: string | null, what: string): string {
  return signature === null ? `${what} (none)` : `${what} (${signature.slice(0, 12)})`;
}

function matches(filter: PreviewFilter, c: PreviewCandidate, valid: boolean, changed: boolean): boolean {
  switch (filter) {
    case 'all':
      return true;
    case 'changed':
      return changed;
    case 'unchanged':
      return valid && !changed;
    case 'invalid':
      return !valid;
    case 'offline':
      return !c.online;
  }
}
