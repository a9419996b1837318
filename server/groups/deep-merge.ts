/** A JSON object (not an array, not null). */
export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets an own property, so a key such as `__proto__` from parsed input stays plain data. */
export function setOwn(target: PlainObject, key: string, value: unknown): void {
  // Only `__proto__` is an accessor on Object.prototype; any other key assigned
  // to a plain object becomes the same own, enumerable, writable data property,
  // and assignment is much cheaper than defineProperty.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * Merges an agent's override document over a rendered template: objects merge
 * key by key, recursively; arrays and scalars in the override replace what the
 * template had; a `null` in the override deletes the key. Neither input is
 * changed, and the result shares no object with `override` (nulls inside a new
 * object are dropped the same way, so they never reach a config).
 */
export function deepMerge(base: PlainObject, override: PlainObject): PlainObject {
  const result: PlainObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) {
      delete result[key];
    } else if (isPlainObject(value)) {
      const current = Object.hasOwn(result, key) ? result[key] : undefined;
      setOwn(result, key, deepMerge(isPlainObject(current) ? current : {}, value));
    } else {
      setOwn(result, key, Array.isArray(value) ? structuredClone(value) : value);
    }
  }
  return result;
}
