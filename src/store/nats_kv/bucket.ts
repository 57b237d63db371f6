/**
 * The Bucket implementation over one JetStream KV bucket: every operation fails fast while the
 * connection is down and maps nats.js errors to Parti's, plus the two message-get probes (next and
 * latest revision matching a filter) that the watchdog and watch readiness rely on.
 *
 * @module
 */

import type { MsgRequest } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Bucket, BucketStatus, KvEntry, KvWatch, WatchOptions } from "../store.ts";
import { checkKey, checkRevision, checkValue } from "../validation.ts";
import { nanosToMs, type NatsContext, streamName, withDeadline } from "./connection.ts";
import { mapError } from "./errors.ts";
import { NatsWatch } from "./watch.ts";

/** Deadline of one attempt at listing keys (see `keys()`). */
const KEYS_ATTEMPT_MS = 1_000;

/** A name-bound handle on one KV bucket. */
export class NatsBucket implements Bucket {
  readonly name: string;
  readonly #ctx: NatsContext;
  readonly #kv: KV;

  constructor(ctx: NatsContext, name: string, kv: KV) {
    this.#ctx = ctx;
    this.name = name;
    this.#kv = kv;
  }

  async #run<T>(what: string, key: string | undefined, operation: () => Promise<T>): Promise<T> {
    this.#ctx.ensureConnected(this.name, what);
    try {
      return await operation();
    } catch (error) {
      throw await mapError(this.#ctx, error, this.name, what, key);
    }
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    checkValue(value);
    // kv.create also succeeds over a delete marker (a CAS on the marker's revision).
    return await this.#run(`create '${key}' in`, key, () => this.#kv.create(key, value));
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKey(key);
    checkValue(value);
    checkRevision(revision);
    return await this.#run(`update '${key}' in`, key, () => this.#kv.update(key, value, revision));
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    checkValue(value);
    return await this.#run(`put '${key}' in`, key, () => this.#kv.put(key, value));
  }

  async get(key: string): Promise<KvEntry | null> {
    checkKey(key);
    return await this.#run(`get '${key}' from`, key, async () => {
      const entry = await this.#kv.get(key);
      if (entry === null || entry.operation !== "PUT") return null;
      return { key, value: entry.value, revision: entry.revision, operation: "put" as const };
    });
  }

  async delete(key: string, options?: { readonly revision?: number }): Promise<void> {
    checkKey(key);
    const revision = options?.revision;
    if (revision !== undefined) checkRevision(revision);
    await this.#run(
      `delete '${key}' from`,
      key,
      () => this.#kv.delete(key, revision === undefined ? {} : { previousSeq: revision }),
    );
  }

  keys(): Promise<string[]> {
    return this.#run("list the keys of", undefined, async () => {
      // The listing streams from an ordered consumer that now and then (~1–2 % of calls on a
      // busy bucket) waits for an idle heartbeat before it ends. A listing is a pure read: give
      // each attempt a short deadline and try again, within operationTimeoutMs overall.
      const totalMs = this.#ctx.operationTimeoutMs;
      const attemptMs = Math.min(totalMs, KEYS_ATTEMPT_MS);
      const started = performance.now();
      for (;;) {
        const left = totalMs - (performance.now() - started);
        const iterator = await this.#kv.keys();
        const collect = async () => {
          const keys: string[] = [];
          for await (const key of iterator) keys.push(key);
          return keys;
        };
        try {
          return await withDeadline(collect(), Math.max(1, Math.min(attemptMs, left)));
        } catch (error) {
          if (left <= attemptMs) throw error;
        } finally {
          iterator.stop();
        }
      }
    });
  }

  watch(options: WatchOptions = {}): KvWatch {
    const watch = new NatsWatch(this.#ctx, this, this.#kv, options);
    watch.start();
    return watch.queue;
  }

  status(): Promise<BucketStatus> {
    return this.#run("read the status of", undefined, async () => {
      const info = await (await this.#ctx.jsm()).streams.info(streamName(this.name));
      return {
        name: this.name,
        ttlMs: nanosToMs(info.config.max_age),
        history: info.config.max_msgs_per_subject,
        replicas: info.config.num_replicas,
        values: info.state.messages,
        lastRevision: info.state.last_seq,
        incarnation: info.created,
      };
    });
  }

  /**
   * The first revision at or after `revision` whose key matches `filter`, or 0 when there is
   * none: how the watchdog tells a quiet watch from a stalled one.
   */
  nextMatchingRevision(filter: string, revision: number): Promise<number> {
    return this.#run("probe", undefined, async () => {
      const jsm = await this.#ctx.jsm();
      // nats-server 2.9 answers `next_by_subj` (wildcards included) on the plain message-get API;
      // the client's MsgRequest type only lacks it, so it is widened here.
      const query = { seq: revision, next_by_subj: `$KV.${this.name}.${filter}` };
      const message = await jsm.streams.getMessage(
        streamName(this.name),
        query as unknown as MsgRequest,
      );
      return message?.seq ?? 0;
    });
  }

  /**
   * The latest revision whose key matches `filter`, or 0 when there is none. Read after a watch's
   * consumer was created, it bounds the revisions of that watch's initial values.
   */
  lastMatchingRevision(filter: string): Promise<number> {
    return this.#run("probe", undefined, async () => {
      const jsm = await this.#ctx.jsm();
      // nats-server 2.9 resolves wildcards in `last_by_subj` (checked on file and memory storage).
      const message = await jsm.streams.getMessage(streamName(this.name), {
        last_by_subj: `$KV.${this.name}.${filter}`,
      });
      return message?.seq ?? 0;
    });
  }
}
