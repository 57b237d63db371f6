/**
 * The `parti` CLI (`cli/parti.ts`) run as a child process against real nats-server processes and
 * a real pool of managers in this process: what it prints matches the pool's own view, its
 * commands steer the pool, and its exit codes and stderr are what a script can rely on.
 */
import assert from "node:assert/strict";
import type { Manager, Topology } from "../mod.ts";
import { NatsServer, waitFor } from "../testing/mod.ts";
import { makePartitions, natsPool, waitForSettled } from "./helpers/pool.ts";

const CLI = new URL("../cli/parti.ts", import.meta.url).pathname;

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion (killed after `deadlineMs`). */
async function parti(args: readonly string[], deadlineMs = 20_000): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** The rows of a `status` table, keyed by worker ID, each a column → cell record. */
function parseStatus(stdout: string): Map<string, Record<string, string>> {
  const lines = stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^group \S+: leader /, "a summary line comes first");
  const header = lines[1]!.trim().split(/\s+/);
  assert.deepEqual(header, [
    "ID",
    "LEADER",
    "STATE",
    "PARTITIONS",
    "LOAD",
    "VERSION",
    "APPLIED",
    "HEARTBEAT",
    "DRAINED",
  ]);
  const rows = new Map<string, Record<string, string>>();
  for (const line of lines.slice(2)) {
    const cells = line.trim().split(/\s+/);
    assert.equal(cells.length, header.length, `a full row: '${line}'`);
    rows.set(cells[0]!, Object.fromEntries(header.map((h, i) => [h, cells[i]!])));
  }
  return rows;
}

/** Asserts that the table's rows say what `getTopology()` says. */
function assertRowsMatch(rows: Map<string, Record<string, string>>, topology: Topology): void {
  assert.deepEqual([...rows.keys()], topology.workers.map((w) => w.workerId));
  for (const w of topology.workers) {
    const row = rows.get(w.workerId)!;
    assert.equal(row.LEADER, w.isLeader ? "yes" : "no", w.workerId);
    assert.equal(row.STATE, w.state ?? "-", w.workerId);
    assert.equal(row.PARTITIONS, String(w.partitions), w.workerId);
    assert.equal(row.LOAD, String(w.load), w.workerId);
    assert.equal(row.VERSION, String(w.publishedVersion), w.workerId);
    assert.equal(row.APPLIED, String(w.appliedVersion), w.workerId);
    assert.equal(row.DRAINED, w.drained ? "yes" : "no", w.workerId);
  }
}

/** A settled pool of `count` fast managers on `server`, and the CLI's connection flags. */
async function startPool(server: NatsServer, group: string, count: number, partitions = 24) {
  const list = makePartitions(partitions);
  const pool = await natsPool(server.url, count, { group, source: list });
  await Promise.all(pool.managers.map((m) => m.start()));
  await waitForSettled(pool.managers, list);
  return { pool, partitions: list, flags: ["--server", server.url, "--group", group] };
}

Deno.test("parti status prints a table whose rows match the pool's getTopology()", async () => {
  await using server = await NatsServer.start();
  const { pool, flags } = await startPool(server, "status", 3);
  await using _ = pool;
  const result = await parti(["status", ...flags]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  const rows = parseStatus(result.stdout);
  assertRowsMatch(rows, await pool.managers[0]!.getTopology());
  for (const row of rows.values()) {
    assert.match(row.HEARTBEAT!, /^\d+\.\ds$/, "every live worker's heartbeat age is measured");
  }
  const leader = pool.managers.find((m) => m.isLeader)!;
  assert.match(result.stdout.split("\n")[0]!, new RegExp(`leader ${leader.workerId} \\(epoch`));

  const json = await parti(["status", ...flags, "--json", "--observe-ms", "0"]);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { workers: { workerId: string; partitions: number }[] };
  const topology = await pool.managers[0]!.getTopology();
  assert.deepEqual(
    parsed.workers.map((w) => [w.workerId, w.partitions]),
    topology.workers.map((w) => [w.workerId, w.partitions]),
  );
});

Deno.test("parti drain then status shows the worker drained and owning nothing", async () => {
  await using server = await NatsServer.start();
  const { pool, partitions, flags } = await startPool(server, "drain", 3);
  await using _ = pool;
  const target: Manager = pool.managers.find((m) => !m.isLeader)!;
  const id = target.workerId!;

  const drained = await parti(["drain", id, ...flags, "--wait", "--wait-ms", "10000"]);
  assert.equal(drained.code, 0, drained.stderr);
  assert.match(drained.stdout, new RegExp(`Drained '${id}'`));
  assert.match(drained.stdout, new RegExp(`'${id}' owns no partitions`));
  assert.equal(target.assignment.partitions.length, 0);

  const status = await parti(["status", ...flags]);
  assert.equal(status.code, 0, status.stderr);
  const row = parseStatus(status.stdout).get(id)!;
  assert.equal(row.DRAINED, "yes");
  assert.equal(row.PARTITIONS, "0");
  assert.notEqual(row.STATE, "-", "a drained worker stays alive");

  const again = await parti(["drain", id, ...flags]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /was already drained/);

  const undrained = await parti(["undrain", id, ...flags]);
  assert.equal(undrained.code, 0, undrained.stderr);
  await waitFor(() => target.assignment.partitions.length > 0, {
    timeoutMs: 5_000,
    message: "the undrained worker has work again",
  });
  await waitForSettled(pool.managers, partitions);
});

Deno.test("parti assignments --json prints what getAssignments() returns", async () => {
  await using server = await NatsServer.start();
  const { pool, flags } = await startPool(server, "assigned", 2);
  await using _ = pool;
  const result = await parti(["assignments", ...flags, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const parsed = JSON.parse(result.stdout);
  assert.deepEqual(parsed, Object.fromEntries(await pool.managers[0]!.getAssignments()));

  const text = await parti(["assignments", ...flags]);
  assert.equal(text.code, 0, text.stderr);
  for (const m of pool.managers) {
    assert.match(
      text.stdout,
      new RegExp(`^${m.workerId}  e\\d+v\\d+  ${m.assignment.partitions.length} partitions`, "m"),
    );
  }
});

Deno.test("parti owner prints the worker that owns a partition and exits 1 when none does", async () => {
  await using server = await NatsServer.start();
  const { pool, flags } = await startPool(server, "owners", 2);
  await using _ = pool;
  for (const m of pool.managers) {
    const p = m.assignment.partitions[0]!;
    const result = await parti(["owner", p.keys.join("/"), ...flags]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), m.workerId);
  }
  const none = await parti(["owner", "p/999", ...flags]);
  assert.equal(none.code, 1);
  assert.equal(none.stdout, "");
  assert.equal(none.stderr.trimEnd().split("\n").length, 1, "one line on stderr");
  assert.match(none.stderr, /^parti owner: Partition 'p\/999' has no published owner/);
});

Deno.test("parti rebalance and refresh store their requests and exit 0", async () => {
  await using server = await NatsServer.start();
  const { pool, flags } = await startPool(server, "requests", 1, 4);
  await using _ = pool;
  const rebalance = await parti(["rebalance", ...flags]);
  assert.equal(rebalance.code, 0, rebalance.stderr);
  assert.match(rebalance.stdout, /Rebalance requested in group 'requests'/);
  const refresh = await parti(["refresh", ...flags]);
  assert.equal(refresh.code, 0, refresh.stderr);
  assert.match(refresh.stdout, /Partition refresh requested in group 'requests'/);
});

Deno.test("parti watch redraws the table when a worker joins and exits 0 on SIGINT", async () => {
  await using server = await NatsServer.start();
  const list = makePartitions(12);
  await using pool = await natsPool(server.url, 2, { group: "live", source: list });
  const [first, second] = pool.managers as [Manager, Manager];
  await first.start();
  await waitForSettled([first], list);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "watch", "--server", server.url, "--group", "live"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) stdout += chunk;
  })();
  const stderr = new Response(child.stderr).text();
  const tables = () => stdout.split("\n\n").filter((t) => t.startsWith("group live:"));
  try {
    await waitFor(() => tables().some((t) => t.includes(", 1 worker\n")), {
      timeoutMs: 10_000,
      message: "a first table with one worker",
    });
    await second.start();
    await waitFor(() => tables().some((t) => t.includes("2 workers")), {
      timeoutMs: 10_000,
      message: "a redrawn table with two workers",
    });
    child.kill("SIGINT");
    const status = await child.status;
    assert.equal(status.code, 0, await stderr);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
    await reading;
    await stderr;
  }
});

Deno.test("parti --help and usage errors exit with code 2, errors on one stderr line", async () => {
  const help = await parti(["--help"]);
  assert.equal(help.code, 2);
  assert.match(help.stdout, /Commands:/);
  assert.match(help.stdout, /Exit codes:\n {2}0 {2}success/);
  for (
    const command of [
      "status",
      "watch",
      "drain",
      "undrain",
      "rebalance",
      "refresh",
      "assignments",
      "owner",
    ]
  ) {
    const result = await parti([command, "--help"]);
    assert.equal(result.code, 2, command);
    assert.match(result.stdout, new RegExp(`^parti ${command}: `), command);
    assert.match(result.stdout, /3 {2}the group does not exist/, command);
  }
  for (
    const [args, pattern] of [
      [[], /missing command/],
      [["frobnicate", "--group", "g"], /unknown command 'frobnicate'/],
      [["status"], /--group is required/],
      [["status", "--group", "g", "--frob"], /unknown option '--frob'/],
      [["drain", "--group", "g"], /'drain' needs 1 argument/],
      [["status", "--group", "g", "extra"], /'status' takes no arguments/],
      [["rebalance", "--group", "g", "--json"], /--json is not an option of 'rebalance'/],
      [["status", "--group", "g", "--user", "u"], /--user and --password go together/],
      [["status", "--group", "g", "--timeout-ms", "soon"], /--timeout-ms needs a whole number/],
    ] as const
  ) {
    const result = await parti(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.equal(result.stderr.trimEnd().split("\n").length, 1, `one line: ${result.stderr}`);
    assert.match(result.stderr, pattern);
  }
});

Deno.test("parti exits with code 3 for a group that does not exist, and 1 when the server is down", async () => {
  await using server = await NatsServer.start();
  const missing = await parti(["status", "--server", server.url, "--group", "ghost"]);
  assert.equal(missing.code, 3, missing.stderr);
  assert.equal(missing.stderr.trimEnd().split("\n").length, 1);
  assert.match(missing.stderr, /^parti status: Group 'ghost' does not exist/);
  const port = server.port;
  await server.stop();
  const down = await parti(["status", "--server", `nats://127.0.0.1:${port}`, "--group", "g"]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^parti status: Cannot connect to/);
});
