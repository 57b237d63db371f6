/** Worker child processes for fault tests: spawn, follow their JSON-line reports, kill. */

const FIXTURE = new URL("../fixtures/worker_main.ts", import.meta.url).pathname;

/** The latest reports of one worker process. */
export class WorkerProcess {
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<void>;
  workerId: string | undefined;
  isLeader = false;
  version = 0;
  epoch = 0;
  partitions: string[] = [];
  started = false;
  exited = false;
  /** Set by a test that is stopping or killing this process. */
  stopping = false;
  state = "init";
  readonly errors: string[] = [];
  /** Seed of the fixture's hook-delay PRNG, from its `started` line. */
  seed: number | undefined;
  /** Every delay its `onAssignmentChanged` waited before logging releases, in order (ms). */
  readonly hookDelays: number[] = [];
  /** Labels it was started with (`--labels`), from its `started` line. */
  labels: Readonly<Record<string, string>> | undefined;
  /** Capacity it was started with (`--capacity`), from its `started` line. */
  capacity: number | undefined;
  readonly events: Record<string, unknown>[] = [];

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#done = this.#follow();
  }

  /**
   * Spawns `tests/fixtures/worker_main.ts` with the given arguments. `options.env` adds variables
   * to the child's environment (e.g. `LD_PRELOAD` and `FAKETIME` to run it under libfaketime; the
   * child stays the direct child, so its PID is the owner in the ownership log).
   */
  static spawn(
    url: string,
    group: string,
    partitionCount: number,
    extra: string[] = [],
    options: { readonly env?: Readonly<Record<string, string>> } = {},
  ): WorkerProcess {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", FIXTURE, url, group, String(partitionCount), ...extra],
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
      ...(options.env ? { env: { ...options.env } } : {}),
    }).spawn();
    return new WorkerProcess(child);
  }

  async #follow(): Promise<void> {
    for await (const line of readLines(this.#child.stdout)) {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      this.events.push(event);
      if (typeof event.workerId === "string") this.workerId = event.workerId;
      switch (event.event) {
        case "started":
          this.started = true;
          if (typeof event.seed === "number") this.seed = event.seed;
          if (typeof event.labels === "object" && event.labels !== null) {
            this.labels = event.labels as Record<string, string>;
          }
          if (typeof event.capacity === "number") this.capacity = event.capacity;
          break;
        case "hook-delay":
          this.hookDelays.push(event.ms as number);
          break;
        case "assignment":
          this.version = event.version as number;
          this.epoch = event.epoch as number;
          this.partitions = event.partitions as string[];
          break;
        case "leadership":
          this.isLeader = event.isLeader as boolean;
          break;
        case "state":
          this.state = event.state as string;
          break;
        case "error":
          this.errors.push(String(event.message));
          break;
      }
    }
    await this.#child.status;
    this.exited = true;
  }

  /** Sends a signal and waits for the process to exit. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
    await this.#done;
    if (signal === "SIGKILL") {
      this.isLeader = false;
      this.partitions = [];
    }
  }

  /** Sends a signal without waiting (e.g. SIGSTOP / SIGCONT). */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** The process ID (the owner identity in the ownership log). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Waits for exit. */
  get done(): Promise<void> {
    return this.#done;
  }
}

/** Partition owners among processes that are alive. */
export function ownersOf(workers: readonly WorkerProcess[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const w of workers) {
    if (w.exited) continue;
    for (const p of w.partitions) out.set(p, [...(out.get(p) ?? []), w.workerId ?? "?"]);
  }
  return out;
}

/** True when every one of `count` partitions has exactly one live owner. */
export function covered(workers: readonly WorkerProcess[], count: number): boolean {
  const owners = ownersOf(workers);
  if (owners.size !== count) return false;
  for (const list of owners.values()) if (list.length !== 1) return false;
  return true;
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer) yield buffer;
}
