/**
 * The connection options Parti recommends, in a module of their own that imports nothing from
 * nats.js, so the root entry can offer them without pulling in the client.
 *
 * @module
 */

/**
 * Connection options Parti recommends for `connect()`/`wsconnect()`; spread them into your own.
 *
 * - `maxReconnectAttempts: -1`: never give up. The client's default (10 attempts, 2 s apart)
 *   closes the connection for good after a short server outage, and every watcher and operation
 *   then fails for the life of the process.
 * - `reconnectTimeWait: 250`, `reconnectJitter: 100`: come back within about 0.3 s of the server
 *   returning, without every client reconnecting in lockstep.
 * - `pingInterval: 1000`, `maxPingOut: 2`: detect a silent network partition (no TCP reset) in
 *   about 3 s. With the default 120 s ping the client notices nothing for minutes.
 * - `timeout: 2000`: fail the initial connect quickly instead of hanging.
 *
 * @example Connect over TCP
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { recommendedConnectionOptions } from "@parti/core";
import { natsKvStore } from "@parti/core/nats";
 *
 * const nc = await connect({ servers: "nats://127.0.0.1:4222", ...recommendedConnectionOptions });
 * const store = natsKvStore(nc);
 * ```
 */
export const recommendedConnectionOptions: {
  readonly maxReconnectAttempts: number;
  readonly reconnectTimeWait: number;
  readonly reconnectJitter: number;
  readonly pingInterval: number;
  readonly maxPingOut: number;
  readonly timeout: number;
} = Object.freeze({
  maxReconnectAttempts: -1,
  reconnectTimeWait: 250,
  reconnectJitter: 100,
  pingInterval: 1000,
  maxPingOut: 2,
  timeout: 2000,
});
