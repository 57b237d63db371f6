/**
 * Runs every program in `examples/` as a child process against one real nats-server, with short
 * run lengths, and checks the observable result each one reports on its `RESULT` line (and, for
 * the graceful shutdown, the work ledger in the server itself).
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { NatsServer, waitFor } from "../testing/mod.ts";
import { ExampleProcess, runExample } from "./helpers/example_process.ts";

const DEADLINE_MS = 25_000;

Deno.test("every example runs against a real nats-server and does what its header says", async (t) => {
  await using server = await NatsServer.start();
  const nats = ["--nats", server.url];

  await t.step(
    "task_queue.ts processes every task once, each tenant by one worker at a time and in order",
    async () => {
      const r = await runExample<{
        tasks: number;
        processed: number;
        duplicates: number;
        missing: number;
        workers: number;
        perWorker: Record<string, number>;
        moves: number;
        overlaps: number;
        outOfOrder: number;
      }>("task_queue.ts", [...nats, "--tasks", "200", "--tenants", "8", "--workers", "3"], {
        deadlineMs: DEADLINE_MS,
      });
      assert.equal(r.tasks, 200);
      assert.equal(r.processed, 200);
      assert.equal(r.missing, 0);
      assert.equal(r.duplicates, 0);
      assert.equal(Object.values(r.perWorker).reduce((a, b) => a + b, 0), 200);
      assert.equal(r.workers, 3);
      assert.ok(Object.keys(r.perWorker).length >= 2, "the work was shared");
      assert.ok(r.moves > 0, "tenants moved while tasks were processed");
      assert.equal(r.overlaps, 0, "no tenant ever had two running consumers");
      assert.equal(r.outOfOrder, 0, "each tenant's tasks were processed in enqueue order");
    },
  );

  await t.step(
    "http_pool.ts fetches every URL once and never sends two requests to one host at a time",
    async () => {
      const r = await runExample<{
        urls: number;
        fetched: number;
        requests: number;
        uniqueUrls: number;
        duplicates: number;
        notFound: number;
        maxConcurrentPerHost: number;
        hostHandoffs: number;
        left: string | undefined;
        leftWithQueued: number;
      }>("http_pool.ts", [...nats, "--hosts", "6", "--pages", "120", "--workers", "3"], {
        deadlineMs: DEADLINE_MS,
      });
      assert.equal(r.urls, 120);
      assert.equal(r.fetched, 120);
      assert.equal(r.requests, 120, "the server saw one request per URL");
      assert.equal(r.uniqueUrls, 120);
      assert.equal(r.duplicates, 0);
      assert.equal(r.notFound, 0);
      assert.equal(r.maxConcurrentPerHost, 1, "the server never saw two requests to one host");
      assert.ok(r.left !== undefined, "a worker left mid-crawl");
      assert.ok(r.leftWithQueued > 0, "it left URLs queued for its hosts");
      assert.ok(r.hostHandoffs >= 1, "hosts with queued URLs moved to another worker");
    },
  );

  await t.step(
    "token_ranges.ts balances the ring by range size and moves about one worker's share on a join",
    async () => {
      interface Balance {
        workers: number;
        ownedRanges: number;
        maxOverMean: number;
      }
      const r = await runExample<{
        ranges: number;
        largestRangePercent: number;
        before: Balance;
        after: Balance;
        movedRanges: number;
        movedToNewcomer: number;
        movedPercent: number;
        idealMovedPercent: number;
      }>("token_ranges.ts", [...nats, "--ranges", "64", "--workers", "4", "--seed", "7"], {
        deadlineMs: DEADLINE_MS,
      });
      assert.equal(r.ranges, 64);
      for (const [balance, workers] of [[r.before, 4], [r.after, 5]] as const) {
        assert.equal(balance.workers, workers);
        assert.equal(balance.ownedRanges, 64, "every range has exactly one owner");
        // The weighted strategy's bound: nobody above the mean by more than one range.
        const bound = 1 + r.largestRangePercent / (100 / workers);
        assert.ok(balance.maxOverMean <= bound, `max/mean ${balance.maxOverMean} ≤ ${bound}`);
      }
      assert.equal(r.idealMovedPercent, 20);
      assert.ok(r.movedToNewcomer >= 1, "the newcomer got ranges");
      assert.ok(r.movedRanges < 64 / 2, `moved ${r.movedRanges} of 64 ranges`);
      assert.ok(
        r.movedPercent <= r.idealMovedPercent + 2 * r.largestRangePercent,
        `moved ${r.movedPercent} % of the ring, ideal ${r.idealMovedPercent} %`,
      );
    },
  );

  await t.step(
    "custom_strategy.ts publishes exactly the assignment its weighted round robin computes",
    async () => {
      const r = await runExample<{
        partitions: number;
        rounds: {
          workers: string[];
          counts: Record<string, number>;
          expectedCounts: Record<string, number>;
          mismatches: number;
        }[];
      }>("custom_strategy.ts", [...nats, "--capacities", "3,2,1", "--partitions", "24"], {
        deadlineMs: DEADLINE_MS,
      });
      assert.equal(r.rounds.length, 2);
      const [three, two] = r.rounds as [typeof r.rounds[0], typeof r.rounds[0]];
      assert.deepEqual(three.workers, ["worker-0", "worker-1", "worker-2"]);
      assert.equal(three.mismatches, 0);
      assert.deepEqual(three.counts, { "worker-0": 12, "worker-1": 8, "worker-2": 4 });
      assert.deepEqual(two.workers, ["worker-0", "worker-1"]);
      assert.equal(two.mismatches, 0);
      assert.deepEqual(two.counts, { "worker-0": 14, "worker-1": 10 });
    },
  );

  await t.step(
    "graceful_shutdown.ts drains on SIGTERM and a second worker finishes, each item exactly once",
    async () => {
      interface Shutdown {
        worker: string;
        signal: string;
        processed: number;
        duplicates: number;
        inFlightAtSignal: number;
        drained: number;
        backlog: number;
      }
      const items = 600;
      const args = [...nats, "--items", String(items), "--partitions", "6", "--work-ms", "40"];
      const nc = await connect({ servers: server.url });
      await using first = ExampleProcess.spawn("graceful_shutdown.ts", args, {
        deadlineMs: DEADLINE_MS,
      });
      try {
        const a = JSON.parse(await first.line("READY ")).worker as string;
        const ledger = await new Kvm(nc).open("graceful_done");
        await waitFor(async () => (await ledger.status()).values >= 20, {
          timeoutMs: DEADLINE_MS,
          message: "the first worker processed items",
        });
        await using second = ExampleProcess.spawn("graceful_shutdown.ts", args, {
          deadlineMs: DEADLINE_MS,
        });
        const owned = (w: ExampleProcess) => {
          const last = w.lines.findLast((l) => l.startsWith("ASSIGNMENT "));
          return last ? (JSON.parse(last.slice("ASSIGNMENT ".length)).partitions as string[]) : [];
        };
        await waitFor(() => owned(second).length > 0 && owned(first).length > 0, {
          timeoutMs: DEADLINE_MS,
          message: "the second worker took some partitions over from the first",
        });
        const doneAtSignal = (await ledger.status()).values;
        assert.ok(doneAtSignal < items, `work left when SIGTERM is sent (${doneAtSignal})`);
        first.signal("SIGTERM");
        const ra = await first.result<Shutdown>();
        await waitFor(() => owned(second).length === 6, {
          timeoutMs: DEADLINE_MS,
          message: "the second worker owns every partition",
        });
        await waitFor(async () => (await ledger.status()).values >= items, {
          timeoutMs: DEADLINE_MS,
          message: "every item in the ledger",
        });
        second.signal("SIGTERM");
        const rb = await second.result<Shutdown>();

        assert.equal(ra.worker, a);
        assert.equal(ra.signal, "SIGTERM");
        assert.ok(ra.inFlightAtSignal >= 1, "items were in flight at the signal");
        assert.ok(ra.drained >= ra.inFlightAtSignal, "the items in flight were finished");
        assert.equal(ra.duplicates, 0);
        assert.equal(rb.duplicates, 0);
        assert.ok(rb.processed > 0, "the second worker took over");
        assert.equal(ra.processed + rb.processed, items);
        assert.equal(rb.backlog, 0, "nothing pending or unacknowledged in the stream");
        // The ledger: each item exactly once, by the worker that reported it.
        const byWorker = new Map<string, number>();
        const keys = new Set<string>();
        for await (const key of await ledger.keys()) {
          keys.add(key);
          const who = (await ledger.get(key))!.string();
          byWorker.set(who, (byWorker.get(who) ?? 0) + 1);
        }
        assert.deepEqual(keys, new Set(Array.from({ length: items }, (_, i) => `item-${i}`)));
        assert.equal(byWorker.get(a), ra.processed);
        assert.equal(byWorker.get(rb.worker), rb.processed);
        assert.equal((await ledger.status()).values, items, "no item was written twice");
      } finally {
        await nc.close();
      }
    },
  );

  await t.step(
    "jetstream_orders.ts applies every order once and in order, and the database rejects a revoked worker's late write",
    async () => {
      const r = await runExample<{
        ordersProduced: number;
        ordersHandled: number;
        ordersApplied: number;
        workers: number;
        perWorker: Record<string, number>;
        perPartitionOrderOk: boolean;
        outOfOrder: number;
        duplicates: number;
        moved: number;
        lateWrites: number;
        staleWritesRejected: number;
        staleWritesAccepted: number;
      }>(
        "jetstream_orders.ts",
        [...nats, "--partitions", "8", "--orders", "60", "--workers", "3"],
        {
          deadlineMs: DEADLINE_MS,
        },
      );
      assert.equal(r.ordersProduced, 480);
      assert.equal(r.ordersHandled, 480, "every order acked once");
      assert.equal(r.ordersApplied, 480, "every order applied to the database once");
      assert.equal(Object.values(r.perWorker).reduce((a, b) => a + b, 0), 480);
      assert.equal(r.workers, 3);
      assert.equal(r.perPartitionOrderOk, true, "each partition's orders applied in order");
      assert.equal(r.outOfOrder, 0);
      assert.equal(r.duplicates, 0);
      assert.ok(r.moved >= 1, "partitions moved mid-stream when the last worker joined");
      assert.equal(r.lateWrites, r.moved, "every revoked worker tried its late write");
      assert.ok(r.staleWritesRejected >= 1, "the late writes were rejected by their token");
      assert.equal(r.staleWritesAccepted, 0, "no write with an older token was ever accepted");
    },
  );
});
