/**
 * Free loopback TCP ports for test servers.
 *
 * @module
 */

/**
 * Returns `count` distinct TCP ports that were free on 127.0.0.1 a moment ago.
 *
 * Each port comes from binding 127.0.0.1:0 (the kernel picks an unused port). All listeners are
 * held open until every port is chosen, so the ports differ from each other, then closed. Another
 * process may still take a port before you bind it: callers that start a server on it should
 * retry with fresh ports when the bind fails, as `NatsServer.start` does.
 *
 * @param count How many ports to return.
 * @returns The ports, all different.
 * @throws {RangeError} When `count` is not a positive integer.
 *
 * @example Pick two ports
 * ```ts ignore
 * import { freePorts } from "@parti/core/testing";
 *
 * const [client, cluster] = freePorts(2);
 * ```
 */
export function freePorts(count = 1): number[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Cannot pick free ports: count must be an integer >= 1, got '${count}'`);
  }
  const listeners: Deno.TcpListener[] = [];
  try {
    for (let i = 0; i < count; i++) {
      listeners.push(Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" }));
    }
    return listeners.map((l) => l.addr.port);
  } finally {
    for (const l of listeners) l.close();
  }
}
