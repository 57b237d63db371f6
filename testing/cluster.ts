/**
 * A cluster of routed `nats-server` JetStream nodes on loopback, ready for replicated KV buckets.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { freePorts } from "./free_port.ts";
import {
  type NatsServer,
  PortInUseError,
  registerTempDir,
  resolveBinary,
  serverInternals,
  unregisterTempDir,
} from "./nats_server.ts";
import { waitFor } from "./wait.ts";

/** Options for {@linkcode NatsCluster.start}. */
export interface NatsClusterOptions {
  /**
   * Path of the `nats-server` binary.
   *
   * @default {the `NATS_SERVER_BIN` environment variable, else `nats-server` on `PATH`, else `/usr/sbin`, `/usr/local/bin`, `/usr/bin` or `/sbin`}
   */
  binary?: string;
  /**
   * Extra configuration text appended to every node's generated config file.
   *
   * @default {""}
   */
  config?: string;
  /**
   * Turns on every node's debug and trace logging and copies their logs to this process's
   * stderr.
   *
   * @default {false}
   */
  debug?: boolean;
  /**
   * The cluster name (`cluster { name }`).
   *
   * @default {a random name starting with "parti-"}
   */
  name?: string;
  /**
   * How long {@linkcode NatsCluster.start} waits until a replicated KV bucket can be created, in
   * milliseconds. It also bounds how long a node's restart waits for the node to accept clients.
   *
   * @default {30000}
   */
  readyTimeoutMs?: number;
}

/** Options for {@linkcode NatsCluster.waitReady}. */
export interface NatsClusterReadyOptions {
  /**
   * How long to wait, in milliseconds.
   *
   * @default {30000}
   */
  timeoutMs?: number;
}

const START_ATTEMPTS = 5;

/**
 * Routed JetStream `nats-server` nodes on 127.0.0.1, each with its own client port, cluster port
 * and store directory (`server_name` `n1`, `n2`, ...).
 *
 * Each node is a {@linkcode NatsServer}: kill or restart one through
 * {@linkcode NatsCluster.servers}. Stop the whole cluster with {@linkcode NatsCluster.stop} or
 * `await using`; nodes are never left running by the cluster itself.
 *
 * @example Create a bucket replicated on three nodes
 * ```ts ignore
 * import { NatsCluster } from "@parti/core/testing";
 * import { connect } from "@nats-io/transport-node";
 * import { Kvm } from "@nats-io/kv";
 *
 * await using cluster = await NatsCluster.start(3);
 * const nc = await connect({ servers: cluster.urls });
 * const kv = await new Kvm(nc).create("demo", { replicas: 3 });
 * await kv.put("a", "1");
 * await nc.close();
 * ```
 */
export class NatsCluster {
  readonly #servers: readonly NatsServer[];
  readonly #name: string;
  readonly #dir: string;
  #stopping: Promise<void> | undefined;

  private constructor(servers: NatsServer[], name: string, dir: string) {
    this.#servers = servers;
    this.#name = name;
    this.#dir = dir;
  }

  /**
   * Starts `size` routed JetStream nodes and waits until the cluster can create a KV bucket with
   * `replicas: size` (a probe bucket, deleted again). A freshly started cluster needs a few
   * seconds for its JetStream meta leader election.
   *
   * @param size How many nodes.
   * @param options Binary, extra config, debug logging, cluster name and timeout.
   * @returns The running cluster; stop it with {@linkcode NatsCluster.stop} or `await using`.
   * @throws {RangeError} When `size` is not an integer >= 2.
   * @throws {Error} When a node does not start or the cluster is not ready in time; the message
   * includes server output or the last probe error.
   *
   * @example Start a three-node cluster
   * ```ts ignore
   * import { NatsCluster } from "@parti/core/testing";
   *
   * await using cluster = await NatsCluster.start(3);
   * console.log(cluster.urls);
   * ```
   */
  static async start(size = 3, options: NatsClusterOptions = {}): Promise<NatsCluster> {
    if (!Number.isInteger(size) || size < 2) {
      throw new RangeError(`Cannot start a cluster: size must be an integer >= 2, got '${size}'`);
    }
    const binary = resolveBinary(options.binary);
    const name = options.name ?? `parti-${crypto.randomUUID().slice(0, 8)}`;
    const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    const dir = await Deno.makeTempDir({ prefix: "parti-nats-cluster-" });
    registerTempDir(dir);
    let lastError: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      const ports = freePorts(size * 2);
      const clientPorts = ports.slice(0, size);
      const routePorts = ports.slice(size);
      const servers = clientPorts.map((port, i) => {
        const routes = routePorts
          .filter((_, j) => j !== i)
          .map((p) => `    "nats-route://127.0.0.1:${p}"`);
        const clusterConfig = [
          "cluster {",
          `  name: ${JSON.stringify(name)}`,
          `  listen: "127.0.0.1:${routePorts[i]}"`,
          "  routes: [",
          ...routes,
          "  ]",
          "}",
        ].join("\n");
        return serverInternals.create({
          binary,
          dir: `${dir}/n${i + 1}`,
          serverName: `n${i + 1}`,
          clusterName: name,
          port,
          jetstream: true,
          debug: options.debug ?? false,
          extraConfig: `${clusterConfig}\n${options.config ?? ""}`,
          // A restarted node is ready once it accepts clients. Waiting for JetStream as well
          // would hide the meta leader election (about 6-7 s when the killed node led it),
          // which is what fault tests want to observe; waitReady() waits for it on request.
          readiness: "connect",
          readyTimeoutMs,
        });
      });
      const cluster = new NatsCluster(servers, name, dir);
      try {
        await Promise.all(servers.map((s) => serverInternals.spawn(s)));
        const results = await Promise.allSettled(
          servers.map((s) => serverInternals.waitReady(s, "connect")),
        );
        const failed = results.find((r) => r.status === "rejected");
        if (failed !== undefined) throw failed.reason;
        await cluster.waitReady({ timeoutMs: readyTimeoutMs });
        return cluster;
      } catch (error) {
        lastError = error;
        await Promise.all(servers.map((s) => s.kill()));
        if (!(error instanceof PortInUseError)) break;
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    unregisterTempDir(dir);
    throw lastError;
  }

  /**
   * The nodes, in order `n1`, `n2`, ...: kill, restart or inspect one of them. A node's
   * `restart()` resolves once it accepts client connections; see
   * {@linkcode NatsCluster.waitReady} to wait for replicated JetStream too.
   */
  get servers(): readonly NatsServer[] {
    return this.#servers;
  }

  /** Every node's client URL (`nats://127.0.0.1:<port>`), for a client's `servers` option. */
  get urls(): string[] {
    return this.#servers.map((s) => s.url);
  }

  /** The cluster name. */
  get name(): string {
    return this.#name;
  }

  /**
   * Waits until the cluster can create a KV bucket with `replicas` equal to the cluster size (a
   * probe bucket, deleted again): every node is up, routed and a JetStream meta leader exists.
   *
   * {@linkcode NatsCluster.start} already waits for this. Call it after restarting nodes: a
   * node's `restart()` resolves as soon as the node accepts clients, and when the killed node was
   * the JetStream meta leader the cluster needs several more seconds (about 6-7 s on
   * nats-server 2.9.10) before replicated streams can be created again.
   *
   * @param options How long to wait.
   * @returns When a replicated bucket could be created.
   * @throws {Error} When the deadline passes; the cause is the last probe error.
   *
   * @example Wait for the cluster after restarting a node
   * ```ts ignore
   * import { NatsCluster } from "@parti/core/testing";
   *
   * await using cluster = await NatsCluster.start(3);
   * await cluster.servers[0]?.kill();
   * await cluster.servers[0]?.restart();
   * await cluster.waitReady();
   * ```
   */
  async waitReady(options: NatsClusterReadyOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const nc = await connect({ servers: this.urls, name: "parti-testing-cluster-probe" });
    try {
      const kvm = new Kvm(jetstream(nc, { timeout: 2000 }));
      const bucket = `parti_probe_${crypto.randomUUID().slice(0, 8)}`;
      const kv = await waitFor(() => kvm.create(bucket, { replicas: this.#servers.length }), {
        timeoutMs,
        intervalMs: 100,
        message: `a KV bucket with replicas ${this.#servers.length} on cluster '${this.#name}'`,
      });
      // The probe is only a probe: right after a node restart its deletion can fail while the
      // stream's raft group settles. Retry briefly; a leftover probe bucket harms nothing.
      await waitFor(() => kv.destroy(), { timeoutMs: 5_000, intervalMs: 100 }).catch(() => {});
    } finally {
      await nc.close().catch(() => {});
    }
  }

  /**
   * Stops every node and removes all their directories. Calling it again is harmless.
   *
   * @returns When all nodes have exited and the directories are gone.
   *
   * @example Stop explicitly
   * ```ts ignore
   * import { NatsCluster } from "@parti/core/testing";
   *
   * const cluster = await NatsCluster.start(3);
   * try {
   *   // use cluster.urls
   * } finally {
   *   await cluster.stop();
   * }
   * ```
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      try {
        await Promise.all(this.#servers.map((s) => s.stop()));
      } finally {
        await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
        unregisterTempDir(this.#dir);
      }
    })();
    return this.#stopping;
  }

  /**
   * Same as {@linkcode NatsCluster.stop}, for `await using`.
   *
   * @returns When the cluster is stopped.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
