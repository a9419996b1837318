/**
 * Checks on any parsed document (a JSON body, a YAML config, a frame) before
 * its contents are used: nesting depth, and object keys that would reach or
 * shadow `Object.prototype` once a name becomes a key (`__proto__` would be
 * silently dropped or change an object's prototype; `constructor` or
 * `toString` would resolve to an inherited function). Iterative, so a
 * 100k-deep document costs a walk, not a stack overflow.
 */

/** Deepest nesting of objects and arrays accepted in any document Fusion or an agent parses. */
export const MAX_DOCUMENT_DEPTH = 64;

/** Names refused as keys: every own property of Object.prototype, and `prototype`. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/** A problem found in a tree: `too_deep` or `reserved_key`, with the dotted path where it is. */
export interface TreeIssue {
  code: 'too_deep' | 'reserved_key';
  path: string;
  message: string;
}

/** True for a name that may not become an object key (see {@link RESERVED_KEYS}). */
export function isReservedKey(name: string): boolean {
  return RESERVED_KEYS.has(name);
}

interface Visit {
  node: unknown;
  depth: number;
  key: string;
  parent: Visit | undefined;
}

/** The first problem in `value`, or undefined when it is fine. Linear in the size of the tree. */
export function treeIssue(value: unknown, maxDepth: number = MAX_DOCUMENT_DEPTH): TreeIssue | undefined {
  const stack: Visit[] = [{ node: value, depth: 0, key: '', parent: undefined }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const { node, depth } = visit;
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= maxDepth) return { code: 'too_deep', path: pathOf(visit), message: `nested deeper than ${maxDepth} levels` };
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) {
        if (typeof node[i] === 'object' && node[i] !== null) stack.push({ node: node[i], depth: depth + 1, key: String(i), parent: visit });
      }
      continue;
    }
    for (const key of Object.keys(node)) {
      const child = (node as Record<string, unknown>)[key];
      if (RESERVED_KEYS.has(key)) {
        return { code: 'reserved_key', path: pathOf({ node: child, depth: depth + 1, key, parent: visit }), message: `"${key}" cannot be used as a name (it is reserved)` };
      }
      if (typeof child === 'object' && child !== null) stack.push({ node: child, depth: depth + 1, key, parent: visit });
    }
  }
  return undefined;
}

/**
 * Depth of the deepest `[`/`{` nesting in JSON text, counted without parsing
 * (strings skipped), so a hostile body is refused before JSON.parse builds it.
 * Stops counting once past `limit`.
 */
export function jsonTextDepth(text: string, limit: number = MAX_DOCUMENT_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

function pathOf(visit: Visit): string {
  const keys: string[] = [];
  for (let at: Visit | undefined = visit; at?.parent; at = at.parent) keys.push(at.key);
  return keys.length === 0 ? '(root)' : keys.reverse().join('.');
}
