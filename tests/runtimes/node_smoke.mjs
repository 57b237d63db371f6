/**
 * The runtime matrix's program for Node.js and Bun, run against the npm build (the test copies it
 * into the built package, so `@parti/core` resolves as it does for users): the engine on both
 * backends, a pool of three managers on the memory store, and managers over a real nats-server
 * over TCP (`@nats-io/transport-node`). Prints one line, `RESULT <json>`, and must then exit by
 * itself: a timer or socket left behind by `stop()` would keep the process alive.
 *
 * Usage: node node_smoke.mjs '{"natsUrl":"127.0.0.1:4222","group":"g"}'
 *
 * @module
 */
import * as core from "@parti/core";
import * as engineMod from "@parti/core/engine";
import { connect } from "@nats-io/transport-node";
import { engineCheck, memoryPoolCheck, natsPoolCheck } from "./checks.mjs";

const config = JSON.parse(process.argv[2] ?? "{}");
const runtime = typeof Bun === "undefined" ? `node ${process.versions.node}` : `bun ${Bun.version}`;

const result = { runtime };
result.engine = await engineCheck(engineMod);
result.memoryPool = await memoryPoolCheck(core);
if (config.natsUrl) {
  result.nats = await natsPoolCheck(
    core,
    () => connect({ servers: config.natsUrl, ...core.recommendedConnectionOptions, name: runtime }),
    config.group ?? "runtime-nats",
  );
}
console.log(`RESULT ${JSON.stringify(result)}`);
