/**
 * Markdown for JSON Schemas: one table row per field (nested objects
 * flattened to `parent.child`), with the type, whether it is required, its
 * default and its description.
 */

export type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  description?: string;
};

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const code = (value: unknown): string => `\`${JSON.stringify(value)}\``;
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Names a sub-schema that is one of the named schemas (e.g. the items of `status.pipes` are a PipeStatus). */
export type Namer = (s: JsonSchema) => string | undefined;

/** A short human type: `string (1–64)`, `integer ≥ 0`, `"hello"`, `one of …`, `array of …`. */
export function typeText(s: JsonSchema, named: Namer = () => undefined): string {
  const name = named(s);
  if (name) return name;
  if (s.const !== undefined) return code(s.const);
  if (s.enum) return `one of ${s.enum.map(code).join(', ')}`;
  const union = s.anyOf ?? s.oneOf;
  if (union) return union.map((u) => typeText(u, named)).join(' or ');
  const type = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  if (type === 'string') {
    const bits: string[] = [];
    if (s.minLength !== undefined || s.maxLength !== undefined) bits.push(`${s.minLength ?? 0}–${s.maxLength ?? '…'} chars`);
    if (s.pattern) bits.push(`matching \`${s.pattern}\``);
    return bits.length ? `string (${bits.join(', ')})` : 'string';
  }
  if (type === 'integer' || type === 'number') {
    const bits: string[] = [];
    if (s.exclusiveMinimum !== undefined) bits.push(`> ${s.exclusiveMinimum}`);
    if (s.minimum !== undefined) bits.push(`≥ ${s.minimum}`);
    if (s.maximum !== undefined && s.maximum < MAX_SAFE) bits.push(`≤ ${s.maximum}`);
    return bits.length ? `${type} ${bits.join(', ')}` : type;
  }
  if (type === 'array') {
    const bound = s.maxItems !== undefined ? `, at most ${s.maxItems}` : '';
    return `array of ${s.items ? typeText(s.items, named) : 'any'}${bound}`;
  }
  if (type === 'object') {
    if (s.properties) return 'object';
    return s.additionalProperties && typeof s.additionalProperties === 'object' && Object.keys(s.additionalProperties).length
      ? `object of ${typeText(s.additionalProperties, named)}`
      : 'object';
  }
  if (type === 'null') return 'null';
  if (type === 'boolean') return 'boolean';
  return type ?? 'any JSON value';
}

/** The object a schema describes when it is one (also through `X or null`). */
function objectOf(s: JsonSchema): JsonSchema | undefined {
  if (s.properties) return s;
  const union = s.anyOf ?? s.oneOf;
  return union?.map(objectOf).find((o) => o !== undefined);
}

/** Rows for every field of an object schema, nested objects flattened. */
export function fieldRows(schema: JsonSchema, describe: (path: string) => string | undefined, named: Namer, prefix = ''): string[] {
  const rows: string[] = [];
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    const required = schema.required?.includes(name) ? 'yes' : 'no';
    const def = field.default !== undefined ? code(field.default) : '';
    rows.push(`| \`${path}\` | ${cell(typeText(field, named))} | ${required} | ${def} | ${cell(describe(path) ?? field.description ?? '')} |`);
    const nested = objectOf(field);
    if (nested && nested !== schema && !named(nested)) rows.push(...fieldRows(nested, describe, named, path));
  }
  return rows;
}

export function fieldTable(schema: JsonSchema, describe: (path: string) => string | undefined, named: Namer = () => undefined): string {
  return ['| Field | Type | Required | Default | Meaning |', '|---|---|---|---|---|', ...fieldRows(schema, describe, named)].join('\n');
}
