/**
 * A real `nats-server` child process for tests: free loopback ports, a temporary store
 * directory, JetStream on, and kill/restart on the same ports and data.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import {
  type ConnectionOptions,
  type NatsConnection,
  nkeyAuthenticator,
  type ServerInfo,
} from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { findNatsServer } from "./ensure_nats_server.ts";
import { freePorts } from "./free_port.ts";
import { sleep } from "./wait.ts";

/** Options for {@linkcode NatsServer.start}. */
export interface NatsServerOptions {
  /**
   * Adds a WebSocket listener (`websocket { listen: "127.0.0.1:<port>", no_tls: true }`) on its
   * own free port; its URL is {@linkcode NatsServer.wsUrl}.
   *
   * @default {false}
   */
  websocket?: boolean;
  /**
   * Extra configuration text appended to the generated config file, for example
   * `"max_payload: 65536"`.
   *
   * @default {""}
   */
  config?: string;
  /**
   * Path of the `nats-server` binary.
   *
   * @default {the `NATS_SERVER_BIN` environment variable, else `nats-server` on `PATH`, else `/usr/sbin`, `/usr/local/bin`, `/usr/bin` or `/sbin`}
   */
  binary?: string;
  /**
   * Enables JetStream with its store in a temporary directory. When on, start and restart wait
   * until JetStream answers requests.
   *
   * @default {true}
   */
  jetstream?: boolean;
  /**
   * Turns on the server's debug and trace logging and copies the server's log to this
   * process's stderr.
   *
   * @default {false}
   */
  debug?: boolean;
  /**
   * How long start and restart wait for the server to be ready, in milliseconds.
   *
   * @default {10000}
   */
  readyTimeoutMs?: number;
  /**
   * How the readiness probe authenticates and verifies TLS, for a server whose `config` requires
   * it. The probe's user must be allowed to subscribe to `_INBOX.>` and, with JetStream on, to
   * publish to `$JS.API.INFO`. Only the probe uses these; clients pass their own options. With a
   * `tls` block in `config`, {@linkcode NatsServer.url} stays `nats://`: nats.js upgrades the
   * connection when the server requires TLS.
   *
   * @default {none: no credentials and no TLS options}
   */
  probe?: NatsServerProbeOptions;
}

/**
 * Credentials and TLS files of the readiness probe ({@linkcode NatsServerOptions.probe}). Give at
 * most one kind of credentials: `user` and `pass`, `token`, or an NKey `seed`.
 */
export interface NatsServerProbeOptions {
  /** User name, with {@linkcode NatsServerProbeOptions.pass}. */
  user?: string;
  /** Password of {@linkcode NatsServerProbeOptions.user}. */
  pass?: string;
  /** Token of a server configured with `authorization { token: ... }`. */
  token?: string;
  /** NKey user seed (the text starting with `SU`) of a server configured with `nkey` users. */
  seed?: string;
  /** TLS files: the CA that signed the server's certificate, and a client certificate for mTLS. */
  tls?: NatsServerTlsFiles;
}

/** PEM files of a TLS connection, as `tls` options of `@nats-io/transport-node` take them. */
export interface NatsServerTlsFiles {
  /** CA certificate that verifies the server's certificate. */
  caFile?: string;
  /** Client certificate, for a server that verifies clients (`verify: true`). */
  certFile?: string;
  /** Private key of {@linkcode NatsServerTlsFiles.certFile}. */
  keyFile?: string;
}

/** How a (re)started process is judged ready. Internal to the testing entry point. */
export type Readiness = "jetstream" | "connect";

/** Everything needed to (re)spawn one server. Internal to the testing entry point. */
export interface ServerSpec {
  binary: string;
  /** Temporary root directory: config, log and store live below it. */
  dir: string;
  serverName: string;
  /** When set, the server must report this cluster name to be considered ours. */
  clusterName?: string;
  port: number;
  wsPort?: number;
  jetstream: boolean;
  debug: boolean;
  /** Config appended after the generated part (cluster block, user text). */
  extraConfig: string;
  readiness: Readiness;
  readyTimeoutMs: number;
  /** Credentials and TLS files of the readiness probe; none when absent. */
  probe?: NatsServerProbeOptions;
}

/** The server could not bind a port that looked free: start again on other ports. */
export class PortInUseError extends Error {
  override name = "PortInUseError";
}

const TERM_TIMEOUT_MS = 5000;
const PROBE_TIMEOUT_MS = 500;
const PROBE_INTERVAL_MS = 20;
const START_ATTEMPTS = 5;
const LOG_TAIL_LINES = 20;

/** Processes spawned by this module that have not exited yet. */
const live = new Set<Deno.ChildProcess>();
/** Temporary directories of servers and clusters not stopped yet. */
const openDirs = new Set<string>();
let unloadHookInstalled = false;
const EXIT_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
let signalHandlers: Map<Deno.Signal, () => void> | undefined;

/** Last-resort cleanup when this process exits with servers left: kill them, remove their dirs. */
function cleanUpAll(): void {
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const dir of openDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone, or busy: nothing more can be done while exiting
    }
  }
}

/**
 * Registers a temporary directory to be removed if this process exits before it is
 * unregistered. Internal to the testing entry point.
 */
export function registerTempDir(dir: string): void {
  installUnloadHook();
  openDirs.add(dir);
}

/** Undoes {@linkcode registerTempDir} once the directory has been removed. */
export function unregisterTempDir(dir: string): void {
  openDirs.delete(dir);
}

function installUnloadHook(): void {
  if (unloadHookInstalled) return;
  unloadHookInstalled = true;
  // A test that exits (or calls Deno.exit) with servers running must not leave them behind.
  globalThis.addEventListener("unload", cleanUpAll);
}

/**
 * While servers run, Ctrl-C or a SIGTERM/SIGHUP of this process kills them before exiting: the
 * default exit would orphan them, holding ports and disk. The listeners are removed as soon as
 * the last server exits, so they never outlive the servers (nor trip test sanitizers).
 */
function updateSignalHandlers(): void {
  if (Deno.build.os === "windows") return;
  if (live.size > 0 && signalHandlers === undefined) {
    signalHandlers = new Map();
    for (const signal of EXIT_SIGNALS) {
      const handler = () => {
        cleanUpAll();
        Deno.exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
      };
      Deno.addSignalListener(signal, handler);
      signalHandlers.set(signal, handler);
    }
  } else if (live.size === 0 && signalHandlers !== undefined) {
    for (const [signal, handler] of signalHandlers) Deno.removeSignalListener(signal, handler);
    signalHandlers = undefined;
  }
}

function track(child: Deno.ChildProcess): void {
  installUnloadHook();
  live.add(child);
  updateSignalHandlers();
}

function untrack(child: Deno.ChildProcess): void {
  live.delete(child);
  updateSignalHandlers();
}

/** Reads the last lines of a log file from byte `from` on, or a note when it cannot be read. */
export async function logTail(path: string, from = 0, lines = LOG_TAIL_LINES): Promise<string> {
  try {
    const bytes = await Deno.readFile(path);
    const text = new TextDecoder().decode(bytes.subarray(from));
    const all = text.trimEnd().split("\n");
    return all.slice(-lines).join("\n");
  } catch (error) {
    return `(no server output: ${error instanceof Error ? error.message : String(error)})`;
  }
}

function quote(value: string): string {
  return JSON.stringify(value);
}

function renderConfig(spec: ServerSpec, storeDir: string): string {
  const lines = [
    "# Generated by @parti/core/testing",
    `server_name: ${quote(spec.serverName)}`,
    `listen: "127.0.0.1:${spec.port}"`,
  ];
  if (spec.jetstream) lines.push(`jetstream {\n  store_dir: ${quote(storeDir)}\n}`);
  if (spec.wsPort !== undefined) {
    lines.push(`websocket {\n  listen: "127.0.0.1:${spec.wsPort}"\n  no_tls: true\n}`);
  }
  if (spec.debug) lines.push("debug: true", "trace: true");
  if (spec.extraConfig.trim() !== "") lines.push(spec.extraConfig);
  return lines.join("\n") + "\n";
}

function randomId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}

/** The nats.js connection options that carry a probe's credentials and TLS files. */
function probeConnectionOptions(probe: NatsServerProbeOptions | undefined): ConnectionOptions {
  const options: ConnectionOptions = {};
  if (probe === undefined) return options;
  if (probe.user !== undefined) options.user = probe.user;
  if (probe.pass !== undefined) options.pass = probe.pass;
  if (probe.token !== undefined) options.token = probe.token;
  if (probe.seed !== undefined) {
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(probe.seed));
  }
  if (probe.tls !== undefined) options.tls = { ...probe.tls };
  return options;
}

/**
 * Appends everything `output` yields to `file` as it arrives, then closes the file. Unlike
 * `pipeTo(file.writable)`, whose writes reached the file only when the stream ended, this keeps
 * the log readable while the server runs.
 */
async function copyToFile(output: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  try {
    for await (const chunk of output) {
      for (let written = 0; written < chunk.length;) {
        written += await file.write(chunk.subarray(written));
      }
    }
  } catch {
    // the process is gone, or the file could not be written: the log simply ends here
  } finally {
    file.close();
  }
}

/** Closes a probe connection, ignoring errors: the probe's answer is already known. */
async function closeQuietly(nc: NatsConnection): Promise<void> {
  try {
    await nc.close();
  } catch {
    // nothing to do
  }
}

/** Access to NatsServer's private process handling for `NatsCluster`; not exported from mod.ts. */
export interface ServerInternals {
  create(spec: ServerSpec): NatsServer;
  spawn(server: NatsServer): Promise<void>;
  waitReady(server: NatsServer, readiness: Readiness): Promise<void>;
}

/** Filled in by NatsServer's static block, which alone can reach the `#private` members. */
export let serverInternals: ServerInternals;

/**
 * A `nats-server` child process listening on 127.0.0.1 only, with its own free ports and a
 * temporary store directory.
 *
 * Start one with {@linkcode NatsServer.start}. The process keeps running until
 * {@linkcode NatsServer.stop} (or `await using`) ends it: always stop what you start, in a
 * `finally` block or with `await using`. A running server also keeps the Deno process alive.
 * As a last resort, servers still running when this process exits (unload, `Deno.exit`) or is
 * interrupted (SIGINT, SIGTERM, SIGHUP) are killed and their directories removed; a SIGKILL of
 * this process leaves them running.
 *
 * @example Start a server for one test
 * ```ts ignore
 * import { NatsServer } from "@parti/core/testing";
 * import { connect } from "@nats-io/transport-node";
 *
 * Deno.test("a client can talk to the server", async () => {
 *   await using server = await NatsServer.start();
 *   const nc = await connect({ servers: server.url });
 *   await nc.flush();
 *   await nc.close();
 * });
 * ```
 */
export class NatsServer {
  static {
    serverInternals = {
      create: (spec) => new NatsServer(spec),
      spawn: (server) => server.#spawn(),
      waitReady: (server, readiness) => server.#waitReady(readiness),
    };
  }

  readonly #spec: ServerSpec;
  readonly #storeDir: string;
  #child: Deno.ChildProcess | undefined;
  #exited: Promise<Deno.CommandStatus> | undefined;
  #pump: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #stopped = false;
  /** Size of the log file when the current process was spawned: its output starts there. */
  #logOffset = 0;

  private constructor(spec: ServerSpec) {
    this.#spec = spec;
    this.#storeDir = `${spec.dir}/store`;
  }

  /**
   * Starts a `nats-server` on free loopback ports and waits until it is ready.
   *
   * Ready means the client port accepts a NATS connection from this very server (checked by its
   * unique server name) and, with JetStream on, JetStream answers an account-info request. If a
   * chosen port was taken in the meantime (parallel tests), the server is started again on new
   * ports, up to 5 times.
   *
   * @param options WebSocket listener, extra config, binary, JetStream, debug logging, timeout.
   * @returns The running server; stop it with {@linkcode NatsServer.stop} or `await using`.
   * @throws {Error} When no binary is found, or the server exits or is not ready in time; the
   * message includes the last lines of the server's output.
   *
   * @example Start a server with a WebSocket listener
   * ```ts ignore
   * import { NatsServer } from "@parti/core/testing";
   *
   * await using server = await NatsServer.start({ websocket: true });
   * console.log(server.url, server.wsUrl);
   * ```
   */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const binary = resolveBinary(options.binary);
    const dir = await Deno.makeTempDir({ prefix: "parti-nats-" });
    registerTempDir(dir);
    const serverName = `parti-${randomId()}`;
    let lastError: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      const [port, wsPort] = freePorts(options.websocket ? 2 : 1) as [number, number?];
      const server = serverInternals.create({
        binary,
        dir,
        serverName,
        port,
        ...(wsPort !== undefined ? { wsPort } : {}),
        jetstream: options.jetstream ?? true,
        debug: options.debug ?? false,
        extraConfig: options.config ?? "",
        readiness: (options.jetstream ?? true) ? "jetstream" : "connect",
        readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
        ...(options.probe !== undefined ? { probe: options.probe } : {}),
      });
      try {
        await server.#launch();
        return server;
      } catch (error) {
        lastError = error;
        if (!(error instanceof PortInUseError)) break;
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    unregisterTempDir(dir);
    throw lastError;
  }

  /** `nats://127.0.0.1:<port>`, the URL for TCP clients. */
  get url(): string {
    return `nats://127.0.0.1:${this.#spec.port}`;
  }

  /** The client port on 127.0.0.1; it stays the same across {@linkcode NatsServer.restart}. */
  get port(): number {
    return this.#spec.port;
  }

  /** `ws://127.0.0.1:<port>` when started with `websocket: true`, else `undefined`. */
  get wsUrl(): string | undefined {
    return this.#spec.wsPort === undefined ? undefined : `ws://127.0.0.1:${this.#spec.wsPort}`;
  }

  /** The JetStream store directory; it survives {@linkcode NatsServer.kill} and restart. */
  get storeDir(): string {
    return this.#storeDir;
  }

  /** The server's name (`server_name` in its config), unique per server. */
  get name(): string {
    return this.#spec.serverName;
  }

  /**
   * The path of the server's log file (its stderr, appended as it comes), below the temporary
   * directory.
   */
  get logFile(): string {
    return `${this.#spec.dir}/server.log`;
  }

  /** The process ID of the running process, or `undefined` while it is not running. */
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  /** Whether the server process is running (started and not yet exited). */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Spawns the process and waits until it is ready; PortInUseError means "try other ports". */
  async #launch(): Promise<void> {
    if (this.#stopped) {
      throw new Error(`Cannot start server '${this.name}': it was stopped; start a new one`);
    }
    await this.#spawn();
    await this.#waitReady(this.#spec.readiness);
  }

  /** Spawns the process without waiting for it to be ready. */
  async #spawn(): Promise<void> {
    if (this.#child !== undefined) return;
    const spec = this.#spec;
    await Deno.mkdir(this.#storeDir, { recursive: true });
    const configFile = `${spec.dir}/nats.conf`;
    await Deno.writeTextFile(configFile, renderConfig(spec, this.#storeDir));
    const log = await Deno.open(this.logFile, { create: true, append: true });
    this.#logOffset = (await log.stat()).size;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spec.binary, {
        args: ["-c", configFile],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      log.close();
      throw new Error(`Cannot start nats-server '${spec.binary}': ${String(error)}`, {
        cause: error,
      });
    }
    track(child);
    this.#child = child;
    let output: ReadableStream<Uint8Array> = child.stderr;
    let echo: Promise<void> = Promise.resolve();
    if (spec.debug) {
      const [toFile, toStderr] = child.stderr.tee();
      output = toFile;
      echo = toStderr.pipeTo(Deno.stderr.writable, { preventClose: true }).catch(() => {});
    }
    this.#pump = Promise.all([copyToFile(output, log), echo]).then(() => {});
    this.#exited = child.status.then((status) => {
      untrack(child);
      if (this.#child === child) this.#child = undefined;
      return status;
    });
  }

  /**
   * Waits until the process is ready, or kills it and fails with its last output. `"connect"`:
   * the client port answers as this server; `"jetstream"`: JetStream answers too.
   */
  async #waitReady(readiness: Readiness): Promise<void> {
    const exited = this.#exited;
    if (exited === undefined) throw new Error(`Server '${this.name}' is not running`);
    let exitStatus: Deno.CommandStatus | undefined;
    exited.then((s) => (exitStatus = s));
    const deadline = performance.now() + this.#spec.readyTimeoutMs;
    let lastError: unknown;
    while (true) {
      if (exitStatus !== undefined) await this.#failExited(exitStatus);
      try {
        await this.#probe(readiness);
        return;
      } catch (error) {
        lastError = error;
      }
      if (exitStatus !== undefined) await this.#failExited(exitStatus);
      if (performance.now() >= deadline) break;
      const pause = new AbortController();
      await Promise.race([sleep(PROBE_INTERVAL_MS, pause.signal).catch(() => {}), exited]);
      pause.abort();
    }
    await this.kill();
    const what = readiness === "jetstream"
      ? "accepting connections with JetStream"
      : "accepting connections";
    throw new Error(
      `nats-server '${this.name}' on port ${this.port} was not ${what} after ` +
        `${this.#spec.readyTimeoutMs} ms (last probe error: ${String(lastError)}); ` +
        `server output:\n${await logTail(this.logFile, this.#logOffset)}`,
      { cause: lastError },
    );
  }

  async #failExited(status: Deno.CommandStatus): Promise<never> {
    await this.#pump;
    const tail = await logTail(this.logFile, this.#logOffset);
    const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
    const message = `nats-server '${this.name}' exited with ${how} while starting ` +
      `(port ${this.port}); server output:\n${tail}`;
    if (/address already in use/i.test(tail)) throw new PortInUseError(message);
    throw new Error(message);
  }

  async #probe(readiness: Readiness): Promise<void> {
    const nc = await connect({
      ...probeConnectionOptions(this.#spec.probe),
      servers: this.url,
      reconnect: false,
      timeout: PROBE_TIMEOUT_MS,
      name: "parti-testing-probe",
    });
    try {
      const info: ServerInfo | undefined = nc.info;
      if (info?.server_name !== this.#spec.serverName) {
        throw new Error(
          `port ${this.port} is served by '${info?.server_name}', not by this server`,
        );
      }
      if (this.#spec.clusterName !== undefined && info.cluster !== this.#spec.clusterName) {
        throw new Error(
          `port ${this.port} is served by cluster '${info.cluster}', not by this one`,
        );
      }
      if (readiness === "jetstream") {
        const jsm = await jetstreamManager(nc, { timeout: PROBE_TIMEOUT_MS });
        await jsm.getAccountInfo();
      }
    } finally {
      await closeQuietly(nc);
    }
  }

  /**
   * Kills the process with SIGKILL and waits for it to exit, keeping the store directory so
   * {@linkcode NatsServer.restart} brings the same data back. Does nothing if it is not running.
   *
   * @returns When the process has exited.
   *
   * @example Simulate a crash
   * ```ts ignore
   * import { NatsServer } from "@parti/core/testing";
   *
   * await using server = await NatsServer.start();
   * await server.kill();
   * await server.restart();
   * ```
   */
  async kill(): Promise<void> {
    await this.#signalAndWait("SIGKILL");
  }

  /**
   * Starts the server again on the same ports and store directory, and waits until it is ready.
   * A running process is first stopped gracefully (SIGTERM).
   *
   * @returns When the server is ready again.
   * @throws {Error} When the server was stopped with {@linkcode NatsServer.stop}, or does not
   * become ready; the message includes the server's last output.
   *
   * @example Restart after a crash
   * ```ts ignore
   * import { NatsServer } from "@parti/core/testing";
   *
   * await using server = await NatsServer.start();
   * await server.kill();
   * await server.restart();
   * console.log(server.running); // true
   * ```
   */
  async restart(): Promise<void> {
    if (this.#stopped) {
      throw new Error(`Cannot restart server '${this.name}': it was stopped; start a new one`);
    }
    await this.#terminate();
    await this.#launch();
  }

  /**
   * Stops the process (SIGTERM, then SIGKILL after 5 s) and removes the temporary directory with
   * the store. Calling it again, or concurrently, is harmless.
   *
   * @returns When the process has exited and the directory is gone.
   *
   * @example Stop explicitly
   * ```ts ignore
   * import { NatsServer } from "@parti/core/testing";
   *
   * const server = await NatsServer.start();
   * try {
   *   // use server.url
   * } finally {
   *   await server.stop();
   * }
   * ```
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopped = true;
      try {
        await this.#terminate();
      } finally {
        await Deno.remove(this.#spec.dir, { recursive: true }).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
        unregisterTempDir(this.#spec.dir);
      }
    })();
    return this.#stopping;
  }

  /**
   * Same as {@linkcode NatsServer.stop}, for `await using`.
   *
   * @returns When the server is stopped and its directory removed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** SIGTERM, falling back to SIGKILL when the process does not exit in time. */
  async #terminate(): Promise<void> {
    const exited = this.#exited;
    if (this.#child === undefined || exited === undefined) {
      await this.#pump;
      return;
    }
    const timer = setTimeout(() => this.#sendSignal("SIGKILL"), TERM_TIMEOUT_MS);
    try {
      await this.#signalAndWait("SIGTERM");
    } finally {
      clearTimeout(timer);
    }
  }

  #sendSignal(signal: Deno.Signal): void {
    try {
      this.#child?.kill(signal);
    } catch {
      // the process exited between the check and the signal
    }
  }

  async #signalAndWait(signal: Deno.Signal): Promise<void> {
    if (this.#child !== undefined) this.#sendSignal(signal);
    await this.#exited;
    await this.#pump;
  }
}

/** Picks the binary from the option or the search order; throws how to install it when missing. */
export function resolveBinary(binary: string | undefined): string {
  if (binary !== undefined) return binary;
  const found = findNatsServer();
  if (found === undefined) {
    throw new Error(
      "Cannot find nats-server (searched NATS_SERVER_BIN, PATH, /usr/sbin, /usr/local/bin, " +
        "/usr/bin and /sbin); run 'deno run -A testing/ensure_nats_server.ts' or set " +
        "NATS_SERVER_BIN",
    );
  }
  return found;
}
