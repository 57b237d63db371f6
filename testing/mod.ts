/**
 * Test harness for code that uses NATS: real `nats-server` processes, routed clusters and a
 * fault-injection TCP proxy, all on loopback with free ports and temporary directories.
 *
 * - {@linkcode NatsServer}: one server with JetStream (and optionally WebSocket); `kill()` and
 *   `restart()` keep its ports and data.
 * - {@linkcode NatsCluster}: routed JetStream nodes ready for replicated KV buckets.
 * - {@linkcode FaultProxy}: a TCP proxy between one client and a server with `pass`, `blackhole`
 *   (silent partition), `reject` (close everything) and delay modes.
 * - {@linkcode waitFor}: poll a condition with a deadline instead of sleeping.
 * - {@linkcode FakeClock}: a manual clock with its own timers; give it to `memoryStore()` and a
 *   manager and every lease, heartbeat and time-to-live moves only when the test ticks it.
 * - {@linkcode ensureNatsServer}: find a working `nats-server` binary, or install it with apt
 *   when running as root; call it from your test setup.
 *
 * Every server, cluster and proxy you start must be stopped: use `await using`, or call `stop()`
 * / `close()` in a `finally` block.
 *
 * **Runs on Deno only** (it starts processes and opens sockets with `Deno.*` APIs); `FakeClock`,
 * `faultyStore` and `waitFor` are plain TypeScript and run anywhere, imported from their own
 * modules or from here under Deno. For that reason the npm build (`deno task build:npm`) leaves
 * `@parti/core/testing` out.
 *
 * @example A KV round trip against a real server
 * ```ts ignore
 * import { NatsServer } from "@parti/core/testing";
 * import { connect } from "@nats-io/transport-node";
 * import { Kvm } from "@nats-io/kv";
 *
 * Deno.test("a value put is read back", async () => {
 *   await using server = await NatsServer.start();
 *   const nc = await connect({ servers: server.url });
 *   try {
 *     const kv = await new Kvm(nc).create("demo");
 *     await kv.put("k", "v");
 *     console.log((await kv.get("k"))?.string());
 *   } finally {
 *     await nc.close();
 *   }
 * });
 * ```
 *
 * @module
 */

export {
  NatsServer,
  type NatsServerOptions,
  type NatsServerProbeOptions,
  type NatsServerTlsFiles,
} from "./nats_server.ts";
export { NatsCluster, type NatsClusterOptions, type NatsClusterReadyOptions } from "./cluster.ts";
export {
  type FaultMode,
  FaultProxy,
  type FaultProxyOptions,
  type FaultProxyTarget,
} from "./tcp_proxy.ts";
export { waitFor, type WaitForOptions } from "./wait.ts";
export { FakeClock, type FakeClockOptions, type RunUntilIdleOptions } from "./fake_clock.ts";
export type { Cancel, Clock } from "../src/runtime/clock.ts";
export { freePorts } from "./free_port.ts";
export { ensureNatsServer, findNatsServer } from "./ensure_nats_server.ts";
export { type FaultyStore, faultyStore } from "./faulty_store.ts";
export type {
  Bucket,
  BucketOptions,
  BucketStatus,
  CoordinationStore,
  KvEntry,
  KvWatch,
  WatchOptions,
} from "../src/store/store.ts";
export {
  type CheckOptions,
  checkOwnershipLog,
  type OwnershipEvent,
  OwnershipLog,
  type OwnershipReport,
  readOwnershipLog,
} from "./ownership_audit.ts";
