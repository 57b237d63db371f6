/**
 * The runtime matrix's `deno serve` program, run with no permissions at all
 * (`deno serve --no-prompt --port <port> tests/runtimes/deno_serve.ts`): a pool of three managers
 * on the memory store, started when the module loads, answers per request which partitions a
 * worker owns.
 *
 * Routes (JSON):
 * - `/ready`: whether every partition has exactly one owner and one manager leads.
 * - `/owner?worker=worker-1`: that worker's state and partition IDs.
 * - `/engine`: which backend an engine created here gets (`createAssignmentEngine()`).
 * - `/permissions`: the state of every permission (none is granted).
 *
 * On SIGTERM `deno serve` closes its listener, but running managers (their timers) would keep the
 * process alive: the program stops them, prints `STOPPED <json>` (states and what each still
 * holds) and the process then exits by itself. A signal listener needs no permission.
 *
 * @module
 */
import { Manager, memoryStore, partitionId, presets } from "../../mod.ts";
import { createAssignmentEngine } from "../../src/engine/mod.ts";

const partitions = Array.from({ length: 24 }, (_, i) => ({
  keys: ["jobs", String(i)],
  weight: 1 + (i % 3),
}));
const store = memoryStore();
const errors: string[] = [];
const managers = [0, 1, 2].map(() =>
  new Manager({
    ...presets.fastTest,
    store,
    group: "deno-serve",
    source: partitions,
    hooks: { onError: (e) => void errors.push(`${e.name}: ${e.message}`) },
  })
);
await Promise.all(managers.map((m) => m.start()));

Deno.addSignalListener("SIGTERM", async () => {
  await Promise.all(managers.map((m) => m.stop()));
  console.log(`STOPPED ${
    JSON.stringify({
      states: managers.map((m) => m.state),
      held: managers.map((m) => m.assignment.partitions.length),
      errors,
    })
  }`);
});

function owned(m: Manager): string[] {
  return m.assignment.partitions.map(partitionId).sort();
}

function ready(): boolean {
  const count = new Map<string, number>();
  for (const m of managers) for (const id of owned(m)) count.set(id, (count.get(id) ?? 0) + 1);
  return count.size === partitions.length && [...count.values()].every((n) => n === 1) &&
    managers.filter((m) => m.isLeader).length === 1;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/ready":
        return Response.json({ ready: ready(), errors });
      case "/owner": {
        const worker = url.searchParams.get("worker");
        const m = managers.find((m) => m.workerId === worker);
        if (m === undefined) return Response.json({ worker, known: false }, { status: 404 });
        return Response.json({
          worker,
          known: true,
          state: m.state,
          isLeader: m.isLeader,
          partitions: owned(m),
        });
      }
      case "/permissions": {
        const names = ["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const;
        const states: Record<string, string> = {};
        for (const name of names) states[name] = (await Deno.permissions.query({ name })).state;
        return Response.json(states);
      }
      case "/engine":
        return Response.json({ backend: (await createAssignmentEngine()).backend });
      default:
        return Response.json({ error: `no route ${url.pathname}` }, { status: 404 });
    }
  },
} satisfies Deno.ServeDefaultExport;
