/**
 * Label selectors: the one syntax used wherever agents are chosen (listing,
 * command fan-out, upgrade rollouts, group rules).
 *
 *   env=prod,region in (eu,us),!canary
 *
 * A selector is a comma-separated list of requirements, all of which must
 * hold (AND). Each requirement is one of:
 *
 *   key=value   key==value   key!=value
 *   key in (v1,v2,...)       key notin (v1,v2,...)
 *   key         (the label exists)
 *   !key        (the label does not exist)
 *
 * `!=` and `notin` also match agents that lack the label, as in Kubernetes.
 * Keys are `[A-Za-z0-9][A-Za-z0-9._/-]*` (≤ 63 characters); values the same
 * alphabet or empty (≤ 63 characters). The empty selector matches every agent.
 * Input is bounded (length and requirement count) and parsed in one linear
 * pass, so a hostile selector cannot stall the caller.
 */

export const SELECTOR_MAX_LENGTH = 1024;
export const SELECTOR_MAX_REQUIREMENTS = 32;
export const SELECTOR_MAX_VALUES = 64;
const NAME_MAX = 63;

export type SelectorOperator = 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'absent';

export interface Requirement {
  key: string;
  op: SelectorOperator;
  /** The values compared with (one for eq/neq, one or more for in/notin, none for exists/absent). */
  values: string[];
}

export interface Selector {
  /** The selector as written, trimmed; the empty string selects everything. */
  text: string;
  requirements: Requirement[];
}

/** A selector that does not parse; `position` is the 0-based offset of the problem in the input. */
export class SelectorError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'SelectorError';
  }
}

const NAME_START = /[A-Za-z0-9]/;
const NAME_CHAR = /[A-Za-z0-9._/-]/;

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  skipSpaces(): void {
    while (this.pos < this.text.length && (this.text[this.pos] === ' ' || this.text[this.pos] === '\t')) this.pos++;
  }

  atEnd(): boolean {
    this.skipSpaces();
    return this.pos >= this.text.length;
  }

  peek(): string | undefined {
    this.skipSpaces();
    return this.text[this.pos];
  }

  take(token: string): boolean {
    this.skipSpaces();
    if (this.text.startsWith(token, this.pos)) {
      this.pos += token.length;
      return true;
    }
    return false;
  }

  expect(token: string, what: string): void {
    if (!this.take(token)) throw new SelectorError(`expected ${what} at position ${this.pos}`, this.pos);
  }

  /** A key or value; `allowEmpty` for values such as `env=`. */
  name(what: string, allowEmpty = false): string {
    this.skipSpaces();
    const start = this.pos;
    if (this.pos < this.text.length && NAME_START.test(this.text[this.pos]!)) {
      this.pos++;
      while (this.pos < this.text.length && NAME_CHAR.test(this.text[this.pos]!)) this.pos++;
    }
    const name = this.text.slice(start, this.pos);
    if (!name && !allowEmpty) throw new SelectorError(`expected a ${what} at position ${start}`, start);
    if (name.length > NAME_MAX) throw new SelectorError(`${what} "${name.slice(0, 20)}…" is longer than ${NAME_MAX} characters`, start);
    return name;
  }

  /** A bare word (`in`, `notin`) followed by a space or `(`. */
  word(word: string): boolean {
    this.skipSpaces();
    if (!this.text.startsWith(word, this.pos)) return false;
    const next = this.text[this.pos + word.length];
    if (next !== ' ' && next !== '\t' && next !== '(') return false;
    this.pos += word.length;
    return true;
  }
}

function valueList(scanner: Scanner): string[] {
  scanner.expect('(', '"(" after in / notin');
  const values: string[] = [];
  do {
    values.push(scanner.name('value'));
    if (values.length > SELECTOR_MAX_VALUES) {
      throw new SelectorError(`a value list holds at most ${SELECTOR_MAX_VALUES} values`, scanner.pos);
    }
  } while (scanner.take(','));
  scanner.expect(')', '")" closing the value list');
  return values;
}

function requirement(scanner: Scanner): Requirement {
  if (scanner.take('!')) {
    if (scanner.peek() === '=') throw new SelectorError(`expected a key before "!=" at position ${scanner.pos}`, scanner.pos);
    return { key: scanner.name('key'), op: 'absent', values: [] };
  }
  const key = scanner.name('key');
  if (scanner.take('!=')) return { key, op: 'neq', values: [scanner.name('value', true)] };
  if (scanner.take('==') || scanner.take('=')) return { key, op: 'eq', values: [scanner.name('value', true)] };
  if (scanner.word('notin')) return { key, op: 'notin', values: valueList(scanner) };
  if (scanner.word('in')) return { key, op: 'in', values: valueList(scanner) };
  return { key, op: 'exists', values: [] };
}

/** Parses a selector; throws SelectorError naming the position of the first problem. */
export function parseSelector(input: string): Selector {
  if (input.length > SELECTOR_MAX_LENGTH) {
    throw new SelectorError(`a selector is at most ${SELECTOR_MAX_LENGTH} characters`, SELECTOR_MAX_LENGTH);
  }
  const scanner = new Scanner(input);
  const requirements: Requirement[] = [];
  if (scanner.atEnd()) return { text: '', requirements };
  do {
    requirements.push(requirement(scanner));
    if (requirements.length > SELECTOR_MAX_REQUIREMENTS) {
      throw new SelectorError(`a selector holds at most ${SELECTOR_MAX_REQUIREMENTS} requirements`, scanner.pos);
    }
  } while (scanner.take(','));
  if (!scanner.atEnd()) {
    throw new SelectorError(`unexpected "${input.slice(scanner.pos, scanner.pos + 10)}" at position ${scanner.pos}`, scanner.pos);
  }
  return { text: input.trim(), requirements };
}

/** Whether a label set (own properties only) satisfies one requirement. */
function holds(req: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const value = has ? labels[req.key] : undefined;
  switch (req.op) {
    case 'exists':
      return has;
    case 'absent':
      return !has;
    case 'eq':
      return has && value === req.values[0];
    case 'neq':
      return !has || value !== req.values[0];
    case 'in':
      return has && req.values.includes(value!);
    case 'notin':
      return !has || !req.values.includes(value!);
  }
}

/** Whether the labels satisfy every requirement of the selector. */
export function matchesSelector(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((req) => holds(req, labels));
}

/** The selector written back in its normal form (one space after commas, `=` for equality). */
export function formatSelector(selector: Selector): string {
  return selector.requirements
    .map((req) => {
      switch (req.op) {
        case 'exists':
          return req.key;
        case 'absent':
          return `!${req.key}`;
        case 'eq':
          return `${req.key}=${req.values[0]}`;
        case 'neq':
          return `${req.key}!=${req.values[0]}`;
        case 'in':
        case 'notin':
          return `${req.key} ${req.op} (${req.values.join(',')})`;
      }
    })
    .join(',');
}
