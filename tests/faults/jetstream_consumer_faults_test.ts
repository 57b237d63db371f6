/**
 * The guarantees of `partitionedConsumer()` under real faults, judged offline from a processing
 * log: five worker processes (`tests/fixtures/consumer_worker.ts`, `presets.fastTest`) consume
 * 32 partitions of a stream while a producer in this process publishes continuously (20,000
 * messages by default, each with its sequence number `n` within its partition). In turn: a worker
 * is SIGKILLed, the leader is SIGKILLed (each replaced by a fresh process once its partitions are
 * consumed again), a worker is SIGSTOPped until its partitions are consumed elsewhere (beyond the
 * heartbeat TTL) and then SIGCONTinued, and nats-server is SIGKILLed and restarted on the same
 * port and store. The durables' ack wait is 2 s (the fixture's `--ack-wait-ms`), so what a dead
 * or frozen worker held comes back within the run. Every handler run is logged on entry and exit
 * (kernel append order across processes). Checked afterwards:
 *
 * - no two processes run a handler of the same partition at overlapping times (a handler frozen
 *   mid-run by SIGSTOP and finishing after its successor started is reported apart: no library
 *   can stop a frozen process, and its successor must hold a newer fencing token);
 * - no handler starts with a fencing token older than one its partition already ran under;
 * - every published message is processed (its handler completed) at least once;
 * - per partition, messages are first processed in publication order;
 * - per fault: duplicate handler runs, and the time until every partition is consumed again.
 *
 * `PARTI_CONSUMER_MESSAGES` and `PARTI_CONSUMER_RATE` (messages per second while faults run)
 * change the load; `PARTI_CONSUMER_KEEP_LOG=1` keeps the processing log (also kept on failure).
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, type JetStreamClient, jetstreamManager } from "@nats-io/jetstream";
import { recommendedConnectionOptions } from "../../mod.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import { sleep } from "../../testing/wait.ts";

const PARTITIONS = 32;
const WORKERS = 5;
const MESSAGES = Number(Deno.env.get("PARTI_CONSUMER_MESSAGES") ?? 20_000);
const RATE = Number(Deno.env.get("PARTI_CONSUMER_RATE") ?? 600);
const STREAM = "FAULTS";
const PREFIX = "f";
const GROUP = "consumer-faults";
const FIXTURE = new URL("../fixtures/consumer_worker.ts", import.meta.url).pathname;
const ids = Array.from({ length: PARTITIONS }, (_, i) => `${PREFIX}/${i}`);

// -----------------------------------------------------------------------------------------------
// The processing log.

/** One line of the processing log: a worker's handler event, or a harness mark. */
interface LogEvent {
  /** `enter`, `exit`, `assignment`, `leader_start`, `leader_stop`, or `mark` (the harness). */
  readonly e: string;
  readonly pid: number;
  /** Wall-clock milliseconds. */
  readonly w: number;
  readonly p?: number;
  readonly n?: number;
  /** Stream sequence. */
  readonly s?: number;
  /** Delivery count. */
  readonly dc?: number;
  readonly ep?: number;
  readonly v?: number;
  /** Marks: what happened (`fault`, `killed`, `stopped`, `continued`, `server_up`, `end`). */
  readonly label?: string;
  /** Marks: the PID a fault was aimed at. */
  readonly target?: number;
  readonly fault?: string;
  /** Fault marks: messages published so far. */
  readonly published?: number;
}

/** Reads the log as it grows (a read at end of file returns nothing until more is appended). */
class LogReader {
  readonly events: LogEvent[] = [];
  readonly #file: Deno.FsFile;
  readonly #decoder = new TextDecoder();
  readonly #chunk = new Uint8Array(1 << 16);
  #buffer = "";

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  static async open(path: string): Promise<LogReader> {
    return new LogReader(await Deno.open(path, { read: true }));
  }

  /** Reads what was appended since the last poll. */
  async poll(): Promise<void> {
    while (true) {
      const n = await this.#file.read(this.#chunk);
      if (n === null || n === 0) break;
      this.#buffer += this.#decoder.decode(this.#chunk.subarray(0, n), { stream: true });
    }
    const lines = this.#buffer.split("\n");
    this.#buffer = lines.pop()!;
    for (const line of lines) if (line) this.events.push(JSON.parse(line));
  }

  close(): void {
    this.#file.close();
  }
}

/** The harness's own appends to the log (marks). */
class MarkWriter {
  readonly #file: Deno.FsFile;
  readonly #encoder = new TextEncoder();

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  mark(label: string, extra: Record<string, unknown> = {}): void {
    const event = {
      e: "mark",
      label,
      ...extra,
      pid: Deno.pid,
      w: performance.timeOrigin + performance.now(),
    };
    this.#file.writeSync(this.#encoder.encode(JSON.stringify(event) + "\n"));
  }

  close(): void {
    this.#file.close();
  }
}

// -----------------------------------------------------------------------------------------------
// Worker processes.

/** One fixture process and its latest reports. */
class ConsumerWorker {
  readonly #child: Deno.ChildProcess;
  readonly done: Promise<void>;
  workerId: string | undefined;
  isLeader = false;
  partitions: string[] = [];
  state = "init";
  started = false;
  exited = false;
  /** Between SIGSTOP and SIGCONT. */
  paused = false;
  /** Errors the process reported, with its wall-clock time. */
  readonly errors: { wall: number; code: string; message: string }[] = [];

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.done = this.#follow();
  }

  static spawn(url: string, logPath: string): ConsumerWorker {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", FIXTURE, url, GROUP, String(PARTITIONS), "--log", logPath],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    return new ConsumerWorker(child);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Alive and not paused. */
  get live(): boolean {
    return !this.exited && !this.paused;
  }

  async #follow(): Promise<void> {
    let buffer = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        this.#report(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    }
    await this.#child.status;
    this.exited = true;
  }

  #report(line: string): void {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof event.workerId === "string") this.workerId = event.workerId;
    switch (event.event) {
      case "started":
        this.started = true;
        break;
      case "assignment":
        this.partitions = event.partitions as string[];
        break;
      case "leadership":
        this.isLeader = event.isLeader as boolean;
        break;
      case "state":
        this.state = event.state as string;
        break;
      case "error":
        this.errors.push({
          wall: event.wall as number,
          code: String(event.code),
          message: String(event.message),
        });
        break;
    }
  }

  /** Sends a signal without waiting. */
  signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
  }

  /** SIGKILL, then waits for the exit. */
  async kill(): Promise<void> {
    this.signal("SIGKILL");
    await this.done;
    this.isLeader = false;
    this.partitions = [];
  }
}

/** Every partition owned by exactly one live worker, one leader, everyone stable and busy. */
function settled(workers: readonly ConsumerWorker[]): boolean {
  const live = workers.filter((w) => w.live);
  if (!covered(live)) return false;
  return live.filter((w) => w.isLeader).length === 1 &&
    live.every((w) => w.started && w.state === "stable" && w.partitions.length > 0);
}

function covered(workers: readonly ConsumerWorker[]): boolean {
  const owners = new Map<string, number>();
  for (const w of workers) for (const p of w.partitions) owners.set(p, (owners.get(p) ?? 0) + 1);
  return owners.size === PARTITIONS && [...owners.values()].every((n) => n === 1);
}

// -----------------------------------------------------------------------------------------------
// The producer.

/** Publishes `{ p, n }` to `f.<p>`, one round over all partitions at a time, at a steady rate. */
class Producer {
  /** Acknowledged publications, in order, with the wall-clock time of their ack. */
  readonly published: { p: number; n: number; seq: number; at: number }[] = [];
  failedAttempts = 0;
  finished = false;
  readonly done: Promise<void>;
  #hurry = false;

  constructor(nc: NatsConnection) {
    this.done = this.#run(jetstream(nc)).finally(() => (this.finished = true));
  }

  /** Publishes the rest as fast as the server acknowledges. */
  hurry(): void {
    this.#hurry = true;
  }

  async #run(js: JetStreamClient): Promise<void> {
    const startedAt = performance.now();
    for (let n = 1; this.published.length < MESSAGES; n++) {
      const count = Math.min(PARTITIONS, MESSAGES - this.published.length);
      // One message per partition per round, awaited: per-partition order holds across retries.
      await Promise.all(Array.from({ length: count }, (_, p) => this.#publish(js, p, n)));
      if (this.#hurry) continue;
      const ahead = startedAt + (this.published.length * 1_000) / RATE - performance.now();
      if (ahead > 0) await sleep(ahead); // the producer's pace
    }
  }

  async #publish(js: JetStreamClient, p: number, n: number): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        // The message ID makes a retry of a publication with an unknown outcome harmless.
        const ack = await js.publish(`${PREFIX}.${p}`, JSON.stringify({ p, n }), {
          msgID: `${p}-${n}`,
          // Short: a request buffered across a server restart is never answered (NATS_FACTS 14).
          timeout: 500,
        });
        this.published.push({ p, n, seq: ack.seq, at: performance.timeOrigin + performance.now() });
        return;
      } catch {
        this.failedAttempts++;
        await sleep(Math.min(500, 25 * 2 ** attempt)); // back-off before the retry
      }
    }
  }
}

// -----------------------------------------------------------------------------------------------
// The checks.

const key = (e: LogEvent) => `${e.pid}:${e.p}:${e.s}`;
const olderToken = (a: LogEvent, b: LogEvent) => a.ep! !== b.ep! ? a.ep! < b.ep! : a.v! < b.v!;

/** Index of the first mark with this label (and fault number), or -1. */
function markIndex(events: readonly LogEvent[], label: string, fault?: string): number {
  return events.findIndex((e) =>
    e.e === "mark" && e.label === label && (fault === undefined || e.fault === fault)
  );
}

/**
 * Per partition, the first completed handler run that started after `from` in a process other
 * than `exclude`: when the partition was being consumed again.
 */
function consumedAgain(
  events: readonly LogEvent[],
  from: number,
  exclude?: number,
): Map<number, LogEvent> {
  const entered = new Set<string>();
  const first = new Map<number, LogEvent>();
  for (let i = from + 1; i < events.length; i++) {
    const e = events[i]!;
    if (e.pid === exclude) continue;
    if (e.e === "enter") entered.add(key(e));
    else if (e.e === "exit" && entered.has(key(e)) && !first.has(e.p!)) first.set(e.p!, e);
  }
  return first;
}

/** Two handler runs of one partition in two processes at overlapping times. */
interface Overlap {
  readonly partition: number;
  /** The run that was still open. */
  readonly open: LogEvent;
  /** The run that started meanwhile. */
  readonly entered: LogEvent;
  readonly at: number;
}

/** One fault as the harness injected it. */
interface Fault {
  readonly name: string;
  readonly target: number | undefined;
  /** Partitions the target owned (all of them for a server restart). */
  readonly owned: readonly string[];
}

interface FaultFigures {
  readonly name: string;
  /** Messages published when the fault began. */
  readonly publishedBefore: number;
  /** Handler runs of messages that had run before (between this fault and the next). */
  readonly duplicates: number;
  /** Of those, runs of a message whose earlier run had completed. */
  readonly afterCompletion: number;
  /** Deliveries with a delivery count above 1. */
  readonly redelivered: number;
  /** Fault → every partition consumed again (a run started after it and completed). */
  readonly allConsumedMs: number;
  /** Fault → every partition of the target consumed again. */
  readonly ownedConsumedMs: number;
  /** The producer's longest pause (no publication acknowledged) until then. */
  readonly producerPauseMs: number;
}

interface Analysis {
  readonly runs: number;
  readonly processed: number;
  readonly missing: string[];
  readonly overlaps: Overlap[];
  readonly frozen: Overlap[];
  readonly concurrentInOneProcess: number;
  readonly staleStarts: LogEvent[];
  readonly orderViolations: string[];
  readonly baselineDuplicates: number;
  readonly faults: FaultFigures[];
}

function analyse(
  events: readonly LogEvent[],
  published: readonly { p: number; n: number; at: number }[],
  faults: readonly Fault[],
): Analysis {
  const acks = published.map((m) => m.at).sort((a, b) => a - b);
  const overlaps: Overlap[] = [];
  const frozen: Overlap[] = [];
  let concurrentInOneProcess = 0;
  const staleStarts: LogEvent[] = [];
  const orderViolations: string[] = [];
  /** Per partition: pid → the run it has open. */
  const open = new Map<number, Map<number, { event: LogEvent; at: number }>>();
  const highest = new Map<number, LogEvent>();
  const firstN = new Map<number, number>();
  const runsOf = new Map<string, number>();
  const completed = new Set<string>();
  let phase = -1;
  const dup = faults.map(() => ({ duplicates: 0, afterCompletion: 0, redelivered: 0 }));
  let baselineDuplicates = 0;
  let runs = 0;
  /** The SIGSTOP target and the indexes of its SIGSTOP and SIGCONT marks, for frozen runs. */
  const stopAt = markIndex(events, "stopped");
  const contAt = markIndex(events, "continued");
  const stopped = stopAt >= 0 && contAt >= 0
    ? { pid: events[stopAt]!.target!, stopAt, contAt }
    : undefined;

  events.forEach((e, at) => {
    if (e.e === "mark") {
      if (e.label === "fault") phase++;
      if (e.label === "killed") { for (const held of open.values()) held.delete(e.target!); }
      return;
    }
    if (e.e !== "enter" && e.e !== "exit") return;
    const p = e.p!;
    const msg = `${p}:${e.n}`;
    const runsHere = open.get(p) ?? new Map<number, { event: LogEvent; at: number }>();
    open.set(p, runsHere);
    if (e.e === "exit") {
      runsHere.delete(e.pid);
      completed.add(msg);
      return;
    }
    runs++;
    for (const [pid, run] of runsHere) {
      if (pid === e.pid) {
        concurrentInOneProcess++;
        continue;
      }
      const overlap = { partition: p, open: run.event, entered: e, at };
      // The target's run was open when it was stopped, and the other run began while it was.
      const frozenRun = stopped !== undefined && pid === stopped.pid &&
        run.at < stopped.contAt && at > stopped.stopAt;
      (frozenRun ? frozen : overlaps).push(overlap);
    }
    runsHere.set(e.pid, { event: e, at });
    const top = highest.get(p);
    if (top && olderToken(e, top)) staleStarts.push(e);
    else highest.set(p, e);
    const seen = runsOf.get(msg) ?? 0;
    runsOf.set(msg, seen + 1);
    if (seen === 0) {
      const last = firstN.get(p) ?? 0;
      if (e.n! < last) orderViolations.push(`partition ${p}: ${e.n} first ran after ${last}`);
      firstN.set(p, Math.max(last, e.n!));
    } else if (phase < 0) {
      baselineDuplicates++;
    } else {
      dup[phase]!.duplicates++;
      if (completed.has(msg)) dup[phase]!.afterCompletion++;
    }
    if ((e.dc ?? 1) > 1 && phase >= 0) dup[phase]!.redelivered++;
  });

  const figures = faults.map((fault, i): FaultFigures => {
    const at = markIndex(events, "fault", String(i + 1));
    const from = fault.target === undefined ? markIndex(events, "server_up") : at;
    const again = consumedAgain(events, from, fault.target);
    const t0 = events[at]!.w;
    const until = (ps: Iterable<number>) =>
      Math.max(...[...ps].map((p) => (again.get(p)?.w ?? Number.POSITIVE_INFINITY) - t0));
    const allConsumedMs = until(ids.keys());
    let producerPauseMs = 0;
    for (let k = 1; k < acks.length; k++) {
      if (acks[k]! > t0 && acks[k - 1]! < t0 + allConsumedMs) {
        producerPauseMs = Math.max(producerPauseMs, acks[k]! - Math.max(t0, acks[k - 1]!));
      }
    }
    return {
      name: fault.name,
      publishedBefore: events[at]!.published ?? 0,
      ...dup[i]!,
      allConsumedMs,
      ownedConsumedMs: until(fault.owned.map((id) => Number(id.split("/")[1]))),
      producerPauseMs,
    };
  });

  const missing = published.filter((m) => !completed.has(`${m.p}:${m.n}`))
    .map((m) => `${m.p}:${m.n}`);
  return {
    runs,
    processed: completed.size,
    missing,
    overlaps,
    frozen,
    concurrentInOneProcess,
    staleStarts,
    orderViolations,
    baselineDuplicates,
    faults: figures,
  };
}

/** The log lines of one partition around an event, for a failure message. */
function excerpt(events: readonly LogEvent[], partition: number, around: number): string {
  const lines: string[] = [];
  for (let i = Math.max(0, around - 400); i < Math.min(events.length, around + 40); i++) {
    const e = events[i]!;
    if (e.e === "mark" || e.p === partition) lines.push(`  #${i} ${JSON.stringify(e)}`);
  }
  return lines.slice(-16).join("\n");
}

/** Prints the figures, every error the workers reported but redeliveries, and log excerpts. */
function report(
  events: readonly LogEvent[],
  result: Analysis,
  faults: readonly Fault[],
  producer: Producer,
  workers: readonly ConsumerWorker[],
): void {
  console.log(
    `${producer.published.length} published (${producer.failedAttempts} failed attempts ` +
      `retried), ${result.runs} handler runs, ${result.processed} messages processed, ` +
      `${result.missing.length} missing, ${result.baselineDuplicates} duplicates before the ` +
      `first fault`,
  );
  for (const [i, f] of result.faults.entries()) {
    const where = `fault ${i + 1} ${f.name} (after ${f.publishedBefore} published)`;
    console.log(
      `${where}: ${f.duplicates} duplicate runs (${f.afterCompletion} of a message whose ` +
        `earlier run had completed), ${f.redelivered} redeliveries; every partition consumed ` +
        `again after ${f.allConsumedMs.toFixed(0)} ms (the target's ${faults[i]!.owned.length}: ` +
        `${f.ownedConsumedMs.toFixed(0)} ms; the producer's longest pause meanwhile: ` +
        `${f.producerPauseMs.toFixed(0)} ms)`,
    );
  }
  const frozenRuns = [...new Map(result.frozen.map((o) => [key(o.open), o])).values()];
  console.log(
    `overlaps: ${result.overlaps.length}; handler runs frozen mid-run by SIGSTOP and finished ` +
      `after SIGCONT while a successor ran: ${frozenRuns.length} (overlapping ` +
      `${result.frozen.length} successor runs); concurrent in one process: ` +
      `${result.concurrentInOneProcess}; runs under an older token: ` +
      `${result.staleStarts.length}; order violations: ${result.orderViolations.length}`,
  );
  const errors = workers.flatMap((w) => w.errors.map((error) => ({ ...error, pid: w.pid })));
  const codes = new Map<string, number>();
  for (const { code } of errors) codes.set(code, (codes.get(code) ?? 0) + 1);
  console.log(`errors reported by workers: ${JSON.stringify(Object.fromEntries(codes))}`);
  // Timed against the faults; REDELIVERED is expected after each and left out.
  const faultTimes = faults.map((_, i) => events[markIndex(events, "fault", String(i + 1))]!.w);
  const unexpected = errors.filter((e) => e.code !== "REDELIVERED");
  for (const error of unexpected.sort((a, b) => a.wall - b.wall)) {
    const i = faultTimes.findLastIndex((t) => t <= error.wall + 1);
    const when = i < 0
      ? "before the faults"
      : `fault ${i + 1} + ${(error.wall - faultTimes[i]!).toFixed(0)} ms`;
    console.log(`  ${when}, pid ${error.pid}: ${error.code}: ${error.message.slice(0, 240)}`);
  }
  for (const o of result.overlaps.slice(0, 4)) {
    console.log(
      `OVERLAP on partition ${o.partition}: ${JSON.stringify(o.entered)} started while ` +
        `${JSON.stringify(o.open)} was open\n${excerpt(events, o.partition, o.at)}`,
    );
  }
  for (const o of frozenRuns.slice(0, 2)) {
    console.log(
      `frozen run on partition ${o.partition}: ${JSON.stringify(o.open)}; first successor ` +
        `${JSON.stringify(o.entered)}\n${excerpt(events, o.partition, o.at)}`,
    );
  }
  for (const e of result.staleStarts.slice(0, 4)) {
    console.log(`OLDER TOKEN: ${JSON.stringify(e)}\n${excerpt(events, e.p!, events.indexOf(e))}`);
  }
}

// -----------------------------------------------------------------------------------------------

Deno.test("partitionedConsumer keeps partitions exclusive, loses nothing and keeps order across worker SIGKILL, leader SIGKILL, SIGSTOP past the TTL and a nats-server restart", async () => {
  await using server = await NatsServer.start();
  const logPath = await Deno.makeTempFile({ prefix: "parti-consumer-faults-", suffix: ".jsonl" });
  const marks = new MarkWriter(await Deno.open(logPath, { append: true }));
  const reader = await LogReader.open(logPath);
  const admin = await connect({ servers: server.url, ...recommendedConnectionOptions });
  const workers: ConsumerWorker[] = [];
  /** Every process spawned, replaced ones included. */
  const everyone: ConsumerWorker[] = [];
  let keepLog = Deno.env.get("PARTI_CONSUMER_KEEP_LOG") !== undefined;
  const startedAt = performance.now();
  try {
    const jsm = await jetstreamManager(admin);
    await jsm.streams.add({ name: STREAM, subjects: [`${PREFIX}.>`] });
    for (let i = 0; i < WORKERS; i++) workers.push(ConsumerWorker.spawn(server.url, logPath));
    everyone.push(...workers);
    await waitFor(() => settled(workers), { timeoutMs: 30_000, message: "pool settled" });
    const producer = new Producer(admin);
    const polled = async <T>(check: () => T) => {
      await reader.poll();
      return check();
    };
    // Under load before the first fault: a twentieth of the messages out and consumed.
    await waitFor(
      () =>
        producer.published.length >= MESSAGES / 20 &&
        polled(() => consumedAgain(reader.events, -1).size === PARTITIONS),
      { timeoutMs: 10_000, message: "every partition consumed" },
    );

    const faults: Fault[] = [];
    /** Waits for a settled pool, picks the target, marks the fault and injects it. */
    const inject = async (
      name: string,
      choose: () => ConsumerWorker | undefined,
      run: (target: ConsumerWorker | undefined, mark: (label: string) => void) => Promise<void>,
    ) => {
      await waitFor(() => settled(workers), {
        timeoutMs: 20_000,
        message: `settled before ${name}`,
      });
      assert.ok(!producer.finished, `the producer is still publishing when ${name} starts`);
      const target = choose();
      const number = String(faults.length + 1);
      faults.push({ name, target: target?.pid, owned: target ? [...target.partitions] : ids });
      const mark = (label: string) => marks.mark(label, { fault: number, target: target?.pid });
      marks.mark("fault", {
        fault: number,
        target: target?.pid,
        published: producer.published.length,
      });
      await run(target, mark);
    };
    const recovered = (label: string, exclude?: number) =>
      waitFor(
        () =>
          polled(() => {
            const from = reader.events.findLastIndex((e) => e.e === "mark" && e.label === label);
            return from >= 0 && consumedAgain(reader.events, from, exclude).size === PARTITIONS;
          }),
        { timeoutMs: 15_000, intervalMs: 25, message: `every partition consumed after ${label}` },
      );
    const follower = () => workers.find((w) => w.live && !w.isLeader)!;
    const leader = () => workers.find((w) => w.live && w.isLeader)!;
    /** SIGKILL; once its partitions are consumed elsewhere, a fresh process takes its place. */
    const killAndReplace = async (target: ConsumerWorker | undefined) => {
      await target!.kill();
      marks.mark("killed", { target: target!.pid });
      await recovered("fault", target!.pid);
      workers.splice(workers.indexOf(target!), 1);
      const fresh = ConsumerWorker.spawn(server.url, logPath);
      workers.push(fresh);
      everyone.push(fresh);
    };

    // 1. SIGKILL a worker.  2. SIGKILL the leader.
    await inject("worker SIGKILL", follower, killAndReplace);
    await inject("leader SIGKILL", leader, killAndReplace);

    // 3. SIGSTOP a worker until its partitions are consumed elsewhere (well past the heartbeat
    // TTL), then SIGCONT: it must fence itself before it touches anything again.
    await inject("worker SIGSTOP", follower, async (sleeper, mark) => {
      sleeper!.paused = true;
      sleeper!.signal("SIGSTOP");
      mark("stopped");
      // Fault window: the pool declares it dead and hands its partitions over.
      await recovered("fault", sleeper!.pid);
      mark("continued");
      sleeper!.signal("SIGCONT");
      sleeper!.paused = false;
    });

    // 4. SIGKILL nats-server and restart it on the same port and store.
    const port = server.port;
    const storeDir = server.storeDir;
    await inject("nats-server restart", () => undefined, async (_, mark) => {
      await server.kill();
      await server.restart();
      assert.equal(server.port, port);
      assert.equal(server.storeDir, storeDir);
      mark("server_up");
      await recovered("server_up");
    });

    await waitFor(() => settled(workers), { timeoutMs: 20_000, message: "settled at the end" });
    producer.hurry();
    await producer.done;
    await waitFor(
      () =>
        polled(() => {
          const done = new Set<string>();
          for (const e of reader.events) if (e.e === "exit") done.add(`${e.p}:${e.n}`);
          return done.size >= MESSAGES;
        }),
      { timeoutMs: 30_000, intervalMs: 100, message: "every published message processed" },
    );
    marks.mark("end");
    for (const w of workers) w.signal("SIGTERM");
    await waitFor(() => workers.every((w) => w.exited), {
      timeoutMs: 10_000,
      message: "workers stopped on SIGTERM",
    });
    await reader.poll();

    const events = reader.events;
    const result = analyse(events, producer.published, faults);
    report(events, result, faults, producer, everyone);
    console.log(`${((performance.now() - startedAt) / 1_000).toFixed(1)} s in all`);
    const failed = result.overlaps.length > 0 || result.staleStarts.length > 0 ||
      result.missing.length > 0 || result.orderViolations.length > 0 ||
      result.concurrentInOneProcess > 0;
    if (failed) keepLog = true;
    assert.equal(producer.published.length, MESSAGES);
    assert.deepEqual(result.overlaps, [], "no two processes ran a partition at overlapping times");
    for (const o of result.frozen) {
      assert.ok(olderToken(o.open, o.entered), "a frozen run's successor holds a newer token");
    }
    assert.equal(result.concurrentInOneProcess, 0, "one handler per partition per process");
    assert.deepEqual(result.staleStarts, [], "no handler started under an older token");
    assert.deepEqual(result.missing.slice(0, 20), [], "every published message was processed");
    assert.deepEqual(result.orderViolations.slice(0, 20), [], "first processing in order");
    assert.equal(result.baselineDuplicates, 0, "no duplicates before the first fault");
  } catch (error) {
    keepLog = true;
    throw error;
  } finally {
    for (const w of everyone) w.signal("SIGKILL");
    await Promise.all(everyone.map((w) => w.done));
    await admin.close().catch(() => {});
    reader.close();
    marks.close();
    if (keepLog) console.log(`processing log kept at ${logPath}`);
    else await Deno.remove(logPath).catch(() => {});
  }
});
