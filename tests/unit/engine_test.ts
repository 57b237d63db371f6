import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import {
  type AssignmentEngine,
  assignmentKernelBytes,
  compileAssignmentKernel,
  consistentHash,
  createAssignmentEngine,
  type Partition,
  roundRobin,
  weightedConsistentHash,
  xxh3_64,
} from "../../src/engine/mod.ts";
import { InvalidPartitionError, StrategyError } from "../../src/errors.ts";

const engines: AssignmentEngine[] = [
  await createAssignmentEngine({ backend: "wasm" }),
  await createAssignmentEngine({ backend: "ts" }),
];
const STRATEGIES = [weightedConsistentHash(), consistentHash(), roundRobin()];

function partitionsOf(count: number): Partition[] {
  return Array.from({ length: count }, (_, i) => ({ keys: ["orders", String(i)] }));
}

function workersOf(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `worker-${i}`);
}

Deno.test("createAssignmentEngine() picks WebAssembly by default and honours backend: 'ts'", async () => {
  strictEqual((await createAssignmentEngine()).backend, "wasm");
  strictEqual((await createAssignmentEngine({ backend: "ts" })).backend, "ts");
});

Deno.test("a precompiled kernel module can be passed in", async () => {
  const module = await compileAssignmentKernel();
  const engine = await createAssignmentEngine({ backend: "wasm", module });
  strictEqual(engine.backend, "wasm");
  strictEqual(engine.assign({ workers: ["a"], partitions: [{ keys: ["x"] }] }).owners[0], "a");
});

Deno.test("backend 'auto' falls back to TypeScript when the kernel module is unusable", async () => {
  const empty = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  strictEqual((await createAssignmentEngine({ module: empty })).backend, "ts");
  await rejects(() => createAssignmentEngine({ backend: "wasm", module: empty }));
});

Deno.test("assignmentKernelBytes() returns a valid WebAssembly module", () => {
  ok(WebAssembly.validate(assignmentKernelBytes() as Uint8Array<ArrayBuffer>));
});

Deno.test("every partition gets exactly one owner from the worker list", () => {
  const workers = workersOf(7);
  const partitions = partitionsOf(500);
  for (const engine of engines) {
    for (const strategy of STRATEGIES) {
      const { owners, stats } = engine.assign({ workers, partitions, strategy });
      strictEqual(owners.length, partitions.length);
      for (const owner of owners) ok(workers.includes(owner));
      strictEqual(stats.meanLoad, 500 / 7);
    }
  }
});

Deno.test("an empty partition list gives an empty assignment", () => {
  for (const engine of engines) {
    const result = engine.assign({ workers: ["a", "b"], partitions: [] });
    deepStrictEqual(result.owners, []);
    deepStrictEqual(result.stats, {
      maxLoad: 0,
      meanLoad: 0,
      moved: 0,
      minimalMoves: 0,
      maxRelativeLoad: 0,
      unplaced: 0,
      localityViolations: 0,
      movesPending: 0,
    });
    deepStrictEqual(result.unplaced, []);
    strictEqual(engine.assign({ workers: [], partitions: [] }).owners.length, 0);
  }
});

Deno.test("a single worker owns every partition", () => {
  for (const engine of engines) {
    for (const strategy of STRATEGIES) {
      const { owners, stats } = engine.assign({
        workers: ["only"],
        partitions: partitionsOf(50),
        strategy,
      });
      ok(owners.every((o) => o === "only"));
      strictEqual(stats.maxLoad, 50);
    }
  }
});

Deno.test("with more workers than partitions every partition is still assigned, one per worker", () => {
  for (const engine of engines) {
    for (const strategy of [weightedConsistentHash(), roundRobin()]) {
      const { owners } = engine.assign({
        workers: workersOf(20),
        partitions: partitionsOf(5),
        strategy,
      });
      strictEqual(owners.length, 5);
      strictEqual(new Set(owners).size, 5);
    }
    const { owners } = engine.assign({
      workers: workersOf(20),
      partitions: partitionsOf(5),
      strategy: consistentHash(),
    });
    strictEqual(owners.length, 5);
  }
});

Deno.test("duplicate or empty worker IDs are rejected with a TypeError", () => {
  for (const engine of engines) {
    throws(
      () => engine.assign({ workers: ["a", "b", "a"], partitions: partitionsOf(3) }),
      (e: unknown) => e instanceof TypeError && /'a' appears more than once/.test(e.message),
    );
    throws(() => engine.assign({ workers: ["a", ""], partitions: partitionsOf(3) }), TypeError);
  }
});

Deno.test("an empty worker list with partitions is a RangeError that says what to do", () => {
  for (const engine of engines) {
    throws(
      () => engine.assign({ workers: [], partitions: partitionsOf(3) }),
      (e: unknown) => e instanceof RangeError && /worker list is empty/.test(e.message),
    );
  }
});

Deno.test("invalid or duplicate partitions are rejected with InvalidPartitionError", () => {
  for (const engine of engines) {
    const bad: unknown[] = [
      [{ keys: [] }],
      [{ keys: ["a", ""] }],
      [{ keys: ["a"], weight: 0 }],
      [{ keys: ["a"], weight: Number.NaN }],
      [null],
      [{ keys: ["a"] }, { keys: ["b"] }, { keys: ["a"] }],
      [{ keys: ["a/b"] }, { keys: ["a", "b"] }],
    ];
    for (const partitions of bad) {
      throws(
        () => engine.assign({ workers: ["w"], partitions: partitions as Partition[] }),
        InvalidPartitionError,
      );
    }
  }
});

Deno.test("strategy descriptors validate their options", () => {
  throws(() => weightedConsistentHash({ loadFactor: 0.9 }), RangeError);
  throws(() => weightedConsistentHash({ virtualNodes: 0 }), RangeError);
  throws(() => consistentHash({ virtualNodes: 1.5 }), RangeError);
  deepStrictEqual(weightedConsistentHash(), {
    kind: "weightedConsistentHash",
    virtualNodes: 150,
    loadFactor: 1,
    spreadBy: "zone",
  });
  throws(() => weightedConsistentHash({ spreadBy: "" }), RangeError);
  throws(() => weightedConsistentHash({ spreadBy: "not a key" }), RangeError);
});

Deno.test("round robin deals partitions over the sorted worker IDs", () => {
  for (const engine of engines) {
    const { owners } = engine.assign({
      workers: ["c", "a", "b"],
      partitions: partitionsOf(5),
      strategy: roundRobin(),
    });
    deepStrictEqual(owners, ["a", "b", "c", "a", "b"]);
  }
});

Deno.test("a user strategy function is called and its result checked", () => {
  for (const engine of engines) {
    const partitions = partitionsOf(4);
    const result = engine.assign({
      workers: ["x", "y"],
      partitions,
      strategy: ({ workers, partitions }) => partitions.map((_, i) => workers[i % 2]!),
    });
    deepStrictEqual(result.owners, ["x", "y", "x", "y"]);
    strictEqual(result.stats.maxLoad, 2);
    const previous = new Map([["orders/0", "y"]]);
    strictEqual(
      engine.assign({
        workers: ["x", "y"],
        partitions,
        previous,
        strategy: () => ["x", "x", "x", "x"],
      })
        .stats.moved,
      1,
    );
    throws(
      () => engine.assign({ workers: ["x"], partitions, strategy: () => ["x"] }),
      StrategyError,
    );
    throws(
      () => engine.assign({ workers: ["x"], partitions, strategy: () => ["x", "x", "x", "z"] }),
      (e: unknown) => e instanceof StrategyError && /'z'/.test(e.message),
    );
    throws(
      () =>
        engine.assign({
          workers: ["x"],
          partitions,
          strategy: () => {
            throw new Error("boom");
          },
        }),
      StrategyError,
    );
  }
});

Deno.test("the result's assignment map is read-only and maps partition IDs to owners", () => {
  for (const engine of engines) {
    const result = engine.assign({ workers: ["a", "b"], partitions: partitionsOf(10) });
    strictEqual(result.assignment.size, 10);
    strictEqual(result.assignment.get("orders/3"), result.owners[3]);
    throws(() => (result.assignment as Map<string, string>).set("x", "y"), TypeError);
    deepStrictEqual([...result.assignment.values()], result.owners);
  }
});

Deno.test("moved and minimalMoves count against the previous assignment", () => {
  for (const engine of engines) {
    const partitions = partitionsOf(1000);
    const workers = workersOf(10);
    const base = engine.assign({ workers, partitions });
    const gone = engine.assign({
      workers: workers.filter((w) => w !== "worker-3"),
      partitions,
      previous: base.assignment,
    });
    const lost = base.owners.filter((o) => o === "worker-3").length;
    strictEqual(gone.stats.minimalMoves, lost);
    strictEqual(gone.stats.moved, lost);
    // Through a plain Map (the slower generic path) the numbers are the same.
    const plain = engine.assign({
      workers: workers.filter((w) => w !== "worker-3"),
      partitions,
      previous: new Map(base.assignment),
    });
    deepStrictEqual(plain.owners, gone.owners);
    deepStrictEqual(plain.stats, gone.stats);
  }
});

Deno.test("the engine module graph imports no NATS package", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../../src/engine/mod.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  strictEqual(output.code, 0, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: { specifier: string }[];
  };
  ok(info.modules.length > 3);
  for (const { specifier } of info.modules) {
    ok(!specifier.includes("nats"), `engine graph includes ${specifier}`);
    ok(specifier.startsWith("file:"), `engine graph includes non-local ${specifier}`);
  }
});

Deno.test("consistentHash places a partition on the first ring point at or after its chained key hash", () => {
  const le64 = (i: number) => new Uint8Array([i, 0, 0, 0, 0, 0, 0, 0]);
  const workers = ["alpha", "beta", "gamma", "delta", "épsilon"];
  const vnodes = 3;
  const points: [bigint, string][] = [];
  for (const w of workers) {
    for (let i = 0; i < vnodes; i++) points.push([xxh3_64(le64(i), xxh3_64(w)), w]);
  }
  points.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1));
  const long = Array.from({ length: 20 }, (_, i) => `level${i}`);
  const partitions = [
    ...Array.from({ length: 200 }, (_, i) => ({ keys: ["t", `k${i}`, "日本"] })),
    // Shared leading keys (hashed once by the engine), prefixes, and more than 15 shared keys.
    { keys: ["a", "b", "c"] },
    { keys: ["a", "b"] },
    { keys: ["a", "b", "d"] },
    { keys: ["a"] },
    { keys: ["a", "x", "y"] },
    { keys: ["é", "b"] },
    { keys: ["é", "c"] },
    { keys: long },
    { keys: [...long, "tail"] },
    { keys: long.slice(0, 17) },
    { keys: [...long.slice(0, 16), "other"] },
  ];
  const expected = partitions.map(({ keys }) => {
    let h = xxh3_64(keys[0]!);
    for (const key of keys.slice(1)) h = xxh3_64(key, h);
    return (points.find(([p]) => p >= h) ?? points[0]!)[1];
  });
  for (const engine of engines) {
    const { owners } = engine.assign({
      workers,
      partitions,
      strategy: consistentHash({ virtualNodes: vnodes }),
    });
    deepStrictEqual(owners, expected);
  }
});

Deno.test("keys are hashed as their own UTF-8 bytes whatever their characters, lengths and neighbours", () => {
  const le64 = (i: number) => new Uint8Array([i, 0, 0, 0, 0, 0, 0, 0]);
  const workers = ["alpha", "beta", "gamma"];
  const points: [bigint, string][] = [];
  for (const w of workers) {
    for (let i = 0; i < 4; i++) points.push([xxh3_64(le64(i), xxh3_64(w)), w]);
  }
  points.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1));
  const big = "ü日🙂x".repeat(3000); // longer than one marshalling chunk
  const keyLists: string[][] = [
    ["orders", "é"],
    ["a\uD800", "\uDC00b"], // a surrogate pair split between two keys: two U+FFFD
    ["\uD83D\uDE00", "\uDE00"], // a pair, then a lone low surrogate
    ["\uDBFF"], // a lone high surrogate
    ["x\uD83D", "\uDE00"],
    ["tail\uD83D\uDE00", "\uD83D\uDE00head"],
    [big, "1"],
    ["ascii-only", big],
    ...Array.from({ length: 3000 }, (_, i) => [`région-${i % 7}`, `客户-${i}-ü`]),
    ...Array.from({ length: 3000 }, (_, i) => ["plain", String(i)]),
    ["end\uD800", "\uDC00"],
  ];
  const partitions = keyLists.map((keys) => ({ keys }));
  const expected = keyLists.map((keys) => {
    let h = xxh3_64(keys[0]!);
    for (const key of keys.slice(1)) h = xxh3_64(key, h);
    return (points.find(([p]) => p >= h) ?? points[0]!)[1];
  });
  for (const engine of engines) {
    const { owners } = engine.assign({
      workers,
      partitions,
      strategy: consistentHash({ virtualNodes: 4 }),
    });
    deepStrictEqual(owners, expected, engine.backend);
  }
});

Deno.test("a result's owners and map are built on first read and stay valid after later calls", () => {
  for (const engine of engines) {
    const partitions = partitionsOf(200);
    const first = engine.assign({ workers: workersOf(4), partitions });
    const later = Array.from(
      { length: 3 },
      (_, i) => engine.assign({ workers: workersOf(5 + i), partitions: partitionsOf(100 + i) }),
    );
    const again = engine.assign({ workers: workersOf(4), partitions });
    deepStrictEqual(first.owners, again.owners);
    strictEqual(first.owners, first.owners);
    deepStrictEqual([...first.assignment.values()], again.owners);
    // An old result still works as `previous` (no owner changes: nothing moves).
    const next = engine.assign({ workers: workersOf(4), partitions, previous: first.assignment });
    strictEqual(next.stats.moved, 0);
    ok(later.every((r) => r.owners.length >= 100));
  }
});
