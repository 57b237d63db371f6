/**
 * How a partition names its JetStream subject and durable: a template such as `"orders.{1}"`
 * (`{i}` is the partition's key `i`) or a function. Templates are checked when the consumer is
 * created; a placeholder a partition has no key for fails when that partition is first mapped,
 * naming the partition.
 *
 * @module
 */
import { type Partition, partitionId } from "../partition.ts";

/**
 * A template (`"orders.{1}"`, `{i}` = `keys[i]`) or a function of the partition.
 *
 * @example Both forms
 * ```ts
 * import type { PartitionMapping } from "@parti/core/jetstream";
 *
 * const subject: PartitionMapping = "orders.{1}"; // partition ["orders", "7"] → "orders.7"
 * const durable: PartitionMapping = (p) => `orders-${p.keys[1]}`; // → "orders-7"
 * ```
 */
export type PartitionMapping = string | ((partition: Partition) => string);

/** A checked mapping: call it with a partition; it throws a `RangeError` naming the partition. */
export type Mapper = (partition: Partition) => string;

const PLACEHOLDER = /\{(\d+)\}/g;
const BRACES = /[{}]/;

/**
 * Checks a mapping option and returns its mapper.
 *
 * @param option The option's name, quoted in errors (`"subject"`, `"durable"`).
 * @param mapping The option's value.
 * @param check Validates a mapped value; returns what is wrong, or `undefined`.
 * @throws {TypeError} When the value is neither a string nor a function, or a template has a
 * placeholder other than `{<digits>}`.
 * @throws {RangeError} When a template has no placeholder at all (every partition would share one
 * name).
 */
export function mapper(
  option: string,
  mapping: unknown,
  check: (value: string) => string | undefined,
): Mapper {
  if (typeof mapping === "function") {
    return (partition) => {
      const value: unknown = mapping(partition);
      if (typeof value !== "string") {
        throw new TypeError(
          `Option '${option}' returned ${describe(value)} for partition ` +
            `'${partitionId(partition)}'; it must return a string`,
        );
      }
      return checked(option, value, partition, check);
    };
  }
  if (typeof mapping !== "string" || mapping.length === 0) {
    throw new TypeError(
      `Invalid option '${option}': must be a template such as 'orders.{1}' or a function of the ` +
        `partition, got ${describe(mapping)}`,
    );
  }
  const template = mapping;
  const slots = [...template.matchAll(PLACEHOLDER)].map((m) => Number(m[1]));
  if (BRACES.test(template.replace(PLACEHOLDER, ""))) {
    throw new TypeError(
      `Invalid option '${option}': '${template}' has a placeholder other than {0}, {1}, …; ` +
        `use {i} for the partition's key i, or pass a function`,
    );
  }
  if (slots.length === 0) {
    throw new RangeError(
      `Invalid option '${option}': '${template}' has no placeholder, so every partition would ` +
        `share it; add one such as '{1}' or pass a function`,
    );
  }
  const needs = Math.max(...slots) + 1;
  return (partition) => {
    if (partition.keys.length < needs) {
      throw new RangeError(
        `Cannot map partition '${
          partitionId(partition)
        }' with option '${option}' ('${template}'):` +
          ` placeholder {${needs - 1}} needs ${needs} keys, the partition has ` +
          `${partition.keys.length}`,
      );
    }
    const value = template.replace(PLACEHOLDER, (_, i: string) => partition.keys[Number(i)]!);
    return checked(option, value, partition, check);
  };
}

function checked(
  option: string,
  value: string,
  partition: Partition,
  check: (value: string) => string | undefined,
): string {
  const problem = check(value);
  if (problem !== undefined) {
    throw new RangeError(
      `Option '${option}' maps partition '${
        partitionId(partition)
      }' to '${value}', which ${problem}`,
    );
  }
  return value;
}

/** What is wrong with a filter subject, or `undefined` (wildcards are allowed). */
export function subjectProblem(subject: string): string | undefined {
  if (subject.length === 0) return "is empty";
  if (/\s/.test(subject)) return "contains whitespace";
  const tokens = subject.split(".");
  if (tokens.some((t) => t.length === 0)) return "has an empty token";
  if (tokens.slice(0, -1).includes(">")) return "has '>' before its last token";
  return undefined;
}

/** What is wrong with a durable consumer name, or `undefined`. */
export function durableProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (/[\s.*>/\\]/.test(name)) {
    return "is not a valid consumer name (no whitespace, '.', '*', '>', '/' or '\\')";
  }
  return undefined;
}

/** Quotes a value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "function") return "a function";
  if (value === null) return "null";
  if (typeof value === "object") return Array.isArray(value) ? "an array" : "an object";
  return `'${String(value)}'`;
}
