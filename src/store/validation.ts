/**
 * Argument checks shared by both store implementations, so that the memory store rejects exactly
 * what NATS JetStream KV would reject and code tested on one behaves the same on the other.
 * Internal to the store layer.
 *
 * @module
 */

import type { BucketOptions, BucketStatus } from "./store.ts";

/** Bucket options with every default applied. */
export interface ResolvedBucketOptions {
  readonly ttlMs: number;
  readonly history: number;
  readonly replicas: number;
  readonly storage: "file" | "memory";
}

// NATS stream names derived from bucket names may only hold these characters.
const BUCKET_NAME = /^[A-Za-z0-9_-]+$/;
// The subset of subject characters NATS KV accepts in keys ("." separates tokens).
const KEY = /^[-/=.\w]+$/;
// JetStream refuses more than 64 revisions per key and more than 5 replicas.
const MAX_HISTORY = 64;
const MAX_REPLICAS = 5;

/** Throws a TypeError unless `name` is a usable bucket name. */
export function checkBucketName(name: string): void {
  if (typeof name !== "string" || !BUCKET_NAME.test(name)) {
    throw new TypeError(
      `Invalid bucket name '${String(name)}': use only letters, digits, '_' and '-'`,
    );
  }
}

/** Throws a TypeError unless `key` is a usable key. */
export function checkKey(key: string): void {
  if (
    typeof key !== "string" || !KEY.test(key) || key.startsWith(".") || key.endsWith(".") ||
    key.includes("..")
  ) {
    throw new TypeError(
      `Invalid key '${String(key)}': use letters, digits and '-/=_.', with '.' only between tokens`,
    );
  }
}

/**
 * Checks a watch filter and returns a predicate for it: `undefined` or `">"` matches every key, a
 * filter ending in `".>"` matches keys with one or more tokens after that prefix, anything else
 * must be a valid key and matches exactly (NATS subject semantics).
 */
export function keyMatcher(filter: string | undefined): (key: string) => boolean {
  if (filter === undefined || filter === ">") return () => true;
  if (typeof filter === "string" && filter.endsWith(".>")) {
    const prefix = filter.slice(0, -1); // keeps the trailing "."
    checkFilterPrefix(filter, prefix.slice(0, -1));
    return (key) => key.startsWith(prefix) && key.length > prefix.length;
  }
  try {
    checkKey(filter);
  } catch {
    throw new TypeError(
      `Invalid watch filter '${String(filter)}': give a key, or a prefix ending in '.>'`,
    );
  }
  return (key) => key === filter;
}

function checkFilterPrefix(filter: string, prefix: string): void {
  try {
    checkKey(prefix);
  } catch {
    throw new TypeError(
      `Invalid watch filter '${filter}': the part before '.>' must be a valid key`,
    );
  }
}

/** Throws a RangeError unless `revision` is a positive integer. */
export function checkRevision(revision: number): void {
  if (!Number.isSafeInteger(revision) || revision <= 0) {
    throw new RangeError(`Invalid revision '${revision}': expected an integer > 0`);
  }
}

/** Throws a TypeError unless `value` is a Uint8Array. */
export function checkValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError("Invalid value: expected a Uint8Array");
  }
}

/** Validates bucket options and applies the defaults. */
export function resolveBucketOptions(options: BucketOptions): ResolvedBucketOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Invalid bucket options: expected an object with 'ttlMs'");
  }
  const { ttlMs, history = 1, replicas = 1, storage = "file" } = options;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) {
    throw new RangeError(`Invalid bucket option 'ttlMs' '${ttlMs}': expected an integer >= 0`);
  }
  if (!Number.isSafeInteger(history) || history < 1 || history > MAX_HISTORY) {
    throw new RangeError(
      `Invalid bucket option 'history' '${history}': expected an integer in 1..${MAX_HISTORY}`,
    );
  }
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    throw new RangeError(
      `Invalid bucket option 'replicas' '${replicas}': expected an integer in 1..${MAX_REPLICAS}`,
    );
  }
  if (storage !== "file" && storage !== "memory") {
    throw new TypeError(
      `Invalid bucket option 'storage' '${String(storage)}': expected 'file' or 'memory'`,
    );
  }
  return { ttlMs, history, replicas, storage };
}

/**
 * Compares what a bucket has with what was asked for and describes the first difference, or
 * returns `null` when they agree.
 */
export function describeMismatch(
  name: string,
  wanted: ResolvedBucketOptions,
  actual: Pick<BucketStatus, "ttlMs" | "history" | "replicas"> & { storage: string },
): string | null {
  const settings = ["ttlMs", "history", "replicas", "storage"] as const;
  for (const setting of settings) {
    if (wanted[setting] !== actual[setting]) {
      return `Bucket '${name}' exists with ${setting} '${actual[setting]}' but '${
        wanted[setting]
      }' was asked for; use the existing setting or delete the bucket so it is created again`;
    }
  }
  return null;
}
