/**
 * A dashboard of one group, seen from outside it: a `GroupAdmin` (it claims no worker ID, writes
 * no heartbeat, never leads) served by `healthHandler(admin)`: the live topology page at `/`, its
 * data at `/topology.json` and `/events`, and `/livez`, `/readyz` (200 while the group can be
 * read) and `/status`. `deploy/compose.yaml` runs it next to the workers at http://localhost:8080/.
 * Until the first worker has created the group it answers 503 and tries again every second.
 *
 * Run: `deno run -A deploy/dashboard.ts --nats nats://127.0.0.1:4222 --group orders [--port 8080]`.
 * Exit codes: 0 after SIGTERM or Ctrl-C, 2 for a bad flag.
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import {
  GroupAdmin,
  GroupNotFoundError,
  healthHandler,
  recommendedConnectionOptions,
} from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string", default: "nats://127.0.0.1:4222" },
    group: { type: "string" },
    port: { type: "string", default: "8080" },
  },
});
const port = Number(values.port);
if (!values.group || !Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error("dashboard.ts needs --group NAME, and --port a port number (default 8080)");
  Deno.exit(2);
}
const group = values.group;
const emit = (event: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ event, group, ...fields }));

const stop = new AbortController();
const nc = await connect({
  servers: values.nats.split(",").map((s) => s.trim()),
  ...recommendedConnectionOptions,
});
let handler: ((request: Request) => Response | Promise<Response>) | undefined;
const server = Deno.serve({
  port,
  hostname: "0.0.0.0",
  onListen: ({ port }) => emit("listening", { port }),
}, (request) =>
  handler?.(request) ??
    new Response(`waiting for group '${group}' to exist\n`, {
      status: 503,
      headers: { "retry-after": "1" },
    }));

let admin: GroupAdmin | undefined;
let shutdown: Promise<void> | undefined;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => {
    shutdown ??= (async () => {
      stop.abort(); // ends the open pages' event streams, which a graceful shutdown waits for
      await server.shutdown();
      await admin?.close();
      await nc.close();
      emit("stopped", { signal });
    })().then(() => Deno.exit(0));
  });
}

let waiting = false;
while (!stop.signal.aborted && admin === undefined) {
  try {
    admin = await GroupAdmin.open({ connection: nc, group });
  } catch (error) {
    if (!(error instanceof GroupNotFoundError)) throw error;
    if (!waiting) emit("waiting", { message: error.message });
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}
if (admin) {
  handler = healthHandler(admin, { signal: stop.signal });
  emit("serving");
}
