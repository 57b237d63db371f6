/**
 * Runs a program of `examples/` as a child process for the examples test: collects its stdout
 * lines (and stderr for failure messages), bounds it with a deadline, and parses the
 * `RESULT {json}` line every example prints last.
 *
 * @module
 */
import { waitFor } from "../../testing/mod.ts";

const EXAMPLES = new URL("../../examples/", import.meta.url);
const RESULT_PREFIX = "RESULT ";
const STDERR_TAIL_CHARS = 4_000;

/** Options of {@linkcode ExampleProcess.spawn}. */
export interface ExampleProcessOptions {
  /**
   * The process is killed with SIGKILL when it is still running after this long.
   * @default {30000}
   */
  readonly deadlineMs?: number;
}

/** One running example program. */
export class ExampleProcess implements AsyncDisposable {
  readonly name: string;
  /** Every stdout line so far, in order. */
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdout: Promise<void>;
  readonly #stderr: Promise<string>;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #deadlineMs: number;
  #timedOut = false;
  #exited = false;

  private constructor(name: string, child: Deno.ChildProcess, deadlineMs: number) {
    this.name = name;
    this.#child = child;
    this.#deadlineMs = deadlineMs;
    this.#stdout = this.#collect(child.stdout);
    this.#stderr = new Response(child.stderr).text().catch(() => "");
    const timer = setTimeout(() => {
      this.#timedOut = true;
      this.#signal("SIGKILL");
    }, deadlineMs);
    this.#status = child.status.finally(() => {
      clearTimeout(timer);
      this.#exited = true;
    });
  }

  /**
   * Starts `deno run -A examples/<file> ...args`.
   *
   * @param file The example's file name, e.g. `"task_queue.ts"`.
   * @param args Its command-line flags.
   * @param options The deadline.
   * @returns The running process.
   */
  static spawn(
    file: string,
    args: readonly string[],
    options: ExampleProcessOptions = {},
  ): ExampleProcess {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(file, EXAMPLES).pathname, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new ExampleProcess(file, child, options.deadlineMs ?? 30_000);
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /**
   * Waits for the first stdout line starting with `prefix`, within the process's deadline.
   *
   * @param prefix What the line starts with, e.g. `"READY "`.
   * @returns The line without the prefix.
   */
  async line(prefix: string): Promise<string> {
    const found = await waitFor(
      () => {
        const hit = this.lines.find((l) => l.startsWith(prefix));
        if (hit === undefined && this.#exited) {
          throw new Error(`${this.name} exited without printing '${prefix.trim()}'`);
        }
        return hit;
      },
      { timeoutMs: this.#deadlineMs, intervalMs: 10, message: `${this.name}: '${prefix.trim()}'` },
    );
    return found.slice(prefix.length);
  }

  /** Sends a signal (e.g. `"SIGTERM"`) without waiting. */
  signal(signal: Deno.Signal): void {
    this.#signal(signal);
  }

  /**
   * Waits for the process to exit successfully and parses its `RESULT {json}` line.
   *
   * @returns The parsed summary.
   * @throws {Error} When it timed out, exited with an error, or printed no `RESULT` line; the
   * message carries the end of its stderr.
   */
  async result<T = Record<string, unknown>>(): Promise<T> {
    const status = await this.#status;
    await this.#stdout;
    const stderr = await this.#stderr;
    const tail = stderr.slice(-STDERR_TAIL_CHARS);
    if (this.#timedOut) {
      throw new Error(
        `${this.name} ran past its ${this.#deadlineMs} ms deadline; stderr:\n${tail}`,
      );
    }
    if (!status.success) {
      const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
      throw new Error(`${this.name} exited with ${how}; stderr:\n${tail}`);
    }
    const line = this.lines.findLast((l) => l.startsWith(RESULT_PREFIX));
    if (line === undefined) {
      throw new Error(`${this.name} printed no RESULT line; stderr:\n${tail}`);
    }
    return JSON.parse(line.slice(RESULT_PREFIX.length)) as T;
  }

  /** Kills the process if it still runs and waits for it: for `finally` and `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#signal("SIGKILL");
    await this.#status;
    await this.#stdout;
    await this.#stderr;
  }

  #signal(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.#child.kill(signal);
    } catch {
      // it exited between the check and the signal
    }
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        this.lines.push(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    }
    if (buffer) this.lines.push(buffer);
  }
}

/**
 * Runs an example to completion and returns its parsed `RESULT` line.
 *
 * @param file The example's file name.
 * @param args Its flags.
 * @param options The deadline.
 * @returns The parsed summary.
 */
export async function runExample<T = Record<string, unknown>>(
  file: string,
  args: readonly string[],
  options: ExampleProcessOptions = {},
): Promise<T> {
  await using example = ExampleProcess.spawn(file, args, options);
  return await example.result<T>();
}
