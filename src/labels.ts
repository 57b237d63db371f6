/**
 * Worker labels and partition selectors: their limits, validation and matching. Labels travel in
 * every heartbeat, so they are small and plain.
 *
 * @module
 */

/** Most labels on one worker or in one selector. */
export const MAX_LABELS = 16;
/** Longest label key or value. */
export const MAX_LABEL_LENGTH = 63;
const KEY = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

/** Labels of a worker (or a selector over them): short plain keys and values. */
export type Labels = Readonly<Record<string, string>>;

/**
 * Describes what is wrong with a label set, or returns `undefined` when it is valid: at most 16
 * entries; keys of 1–63 letters, digits, `.`, `_`, `-` or `/` that start and end with a letter or
 * digit; values of at most 63 letters, digits, `.`, `_` or `-`, starting and ending with a letter
 * or digit (or empty).
 *
 * @param value The value to check (may be anything read from outside).
 * @returns A problem description, or `undefined`.
 */
export function describeLabelsProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "must be an object of string keys to string values";
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_LABELS) return `has ${entries.length} entries; at most ${MAX_LABELS}`;
  for (const [key, v] of entries) {
    if (key.length > MAX_LABEL_LENGTH || !KEY.test(key)) {
      return `has the key ${JSON.stringify(key.slice(0, 80))}; keys are 1-${MAX_LABEL_LENGTH} ` +
        "letters, digits, '.', '_', '-' or '/', starting and ending with a letter or digit";
    }
    if (typeof v !== "string" || v.length > MAX_LABEL_LENGTH || !VALUE.test(v)) {
      return `has the value ${JSON.stringify(String(v).slice(0, 80))} for '${key}'; values are ` +
        `0-${MAX_LABEL_LENGTH} letters, digits, '.', '_' or '-', starting and ending with a ` +
        "letter or digit";
    }
  }
  return undefined;
}

/**
 * Whether labels satisfy a selector: every selector entry is present with the same value.
 *
 * @param labels The worker's labels.
 * @param selector The partition's selector.
 * @returns `true` when they match (an empty selector matches everything).
 */
export function labelsMatch(labels: Labels | undefined, selector: Labels): boolean {
  for (const key in selector) {
    if (labels === undefined || labels[key] !== selector[key]) return false;
  }
  return true;
}

/** A canonical text form of a label set (sorted keys), for grouping equal selectors. */
export function canonicalLabels(labels: Labels): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}
