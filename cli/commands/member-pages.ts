import type { CommandContext } from './context.js';

/** Most pages read for one listing (a page holds up to 1,000 members). */
const MAX_PAGES = 1000;

/**
 * A rollout with every member: the API pages a rollout's members
 * (`next_cursor`); this reads page after page and returns them as one.
 */
export async function withEveryMember<T extends { agents?: unknown[]; next_cursor?: string | null }>(ctx: CommandContext, path: string): Promise<T> {
  const separator = path.includes('?') ? '&' : '?';
  const first = await ctx.client.json<T>(path);
  const agents = [...(first.agents ?? [])];
  let cursor = first.next_cursor ?? null;
  for (let pages = 1; cursor !== null && pages < MAX_PAGES; pages++) {
    const page: T = await ctx.client.json<T>(`${path}${separator}cursor=${encodeURIComponent(cursor)}`);
    agents.push(...(page.agents ?? []));
    cursor = page.next_cursor ?? null;
  }
  return { ...first, agents, next_cursor: null };
}
