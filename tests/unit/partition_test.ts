import assert from "node:assert/strict";
import { partitionId, sanitizePartitions, validatePartitions } from "../../src/partition.ts";
import { InvalidPartitionError } from "../../src/errors.ts";

Deno.test("partitionId joins the keys with '/'", () => {
  assert.equal(partitionId({ keys: ["orders", "eu", "0"] }), "orders/eu/0");
});

Deno.test("validatePartitions rejects empty keys, empty strings, bad weights and duplicates", () => {
  const cases: [unknown[], RegExp][] = [
    [[{ keys: [] }], /empty 'keys'/],
    [[{ keys: ["a", ""] }], /empty string at keys\[1\]/],
    [[{ keys: ["a"], weight: 0 }], /weight 0/],
    [[{ keys: ["a"], weight: -2 }], /weight -2/],
    [[{ keys: ["a"], weight: Number.POSITIVE_INFINITY }], /weight Infinity/],
    [[{ keys: ["a"] }, { keys: ["a"] }], /index 1 duplicates the ID 'a'/],
    [[null], /not an object/],
  ];
  for (const [list, pattern] of cases) {
    assert.throws(
      () => validatePartitions(list as never),
      (e: unknown) => e instanceof InvalidPartitionError && pattern.test(e.message),
    );
  }
});

Deno.test("sanitizePartitions keeps the good entries and reports each bad one", () => {
  const { valid, errors } = sanitizePartitions([
    { keys: ["a"] },
    { keys: [] },
    { keys: ["a"] },
    { keys: ["b"], weight: 2 },
  ]);
  assert.deepEqual(valid.map(partitionId), ["a", "b"]);
  assert.deepEqual(errors.map((e) => e.index), [1, 2]);
});
