/**
 * Watch consumers with their state in memory. `kv.watch()` and `kv.keys()` of nats.js create an
 * ordered push consumer whose state a file-backed bucket keeps on disk too; on nats-server 2.9.10
 * creating those slows down as they accumulate (measured on a 2-vCPU machine: 100 watches of one
 * key started at 343/s, 400 at 195/s, against a steady ~1,600/s with the state in memory), and a
 * pool of a few hundred workers starting together (two watches each) then saw its watch starts
 * time out. The state of an ordered consumer is only a cursor the client rebuilds anyway, so
 * nothing is lost by keeping it in memory; the bucket's data stays on its own storage.
 *
 * nats.js builds those consumers' configuration in `_buildCC` and has no option for it; the
 * wrapper adds `mem_storage: true` to what that returns. A nats.js without the method is left as it
 * is (consumers as nats.js makes them: slower to create, same behaviour).
 *
 * @module
 */
import type { KV } from "@nats-io/kv";

/**
 * Makes the consumers of `kv.watch()` and `kv.keys()` keep their state in memory.
 *
 * @param kv A bucket handle of `@nats-io/kv`.
 * @returns Whether the handle was changed (false: this nats.js builds its consumers otherwise).
 */
export function keepConsumerStateInMemory(kv: KV): boolean {
  const target = kv as unknown as { _buildCC?: (...args: unknown[]) => unknown };
  const build = target._buildCC;
  if (typeof build !== "function") return false;
  target._buildCC = function (this: unknown, ...args: unknown[]): unknown {
    const config = build.apply(this, args);
    return config !== null && typeof config === "object"
      ? { ...config, mem_storage: true }
      : config;
  };
  return true;
}
