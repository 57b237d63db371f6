/**
 * Stable worker IDs: claim the lowest free ID with create-if-absent, renew it by compare-and-set
 * on the last revision (never a blind put, so two processes can never silently share an ID), and
 * release it on stop. A process with a configured instance name takes back its own previous claim.
 *
 * @module
 */
import {
  CoordinationUnavailableError,
  RevisionConflictError,
  toError,
  WorkerIdExhaustedError,
} from "../errors.ts";
import { decodeIdClaim, encode, type IdClaimRecord } from "../protocol/records.ts";
import type { Bucket } from "../store/store.ts";

/** Options of {@link StableId}. */
export interface StableIdOptions {
  /** ID prefix. */
  readonly prefix: string;
  /** Lowest ID number. */
  readonly min: number;
  /** Highest ID number. */
  readonly max: number;
  /** This process's claim value. */
  readonly claim: IdClaimRecord;
  /** Whether `claim.instance` is a configured, stable name (enables reclaiming). */
  readonly stableInstance: boolean;
  /** Receives malformed values found while scanning. */
  readonly onError: (error: Error) => void;
  /** Random numbers in [0, 1) for spreading concurrent claims (default `Math.random`). */
  readonly random?: () => number;
}

/** Conflicts after which a claimant stops taking the lowest free ID and spreads its tries. */
const SEQUENTIAL_CONFLICTS = 16;
/** The widest choice of free IDs a claimant picks from after repeated conflicts. */
const MAX_CLAIM_WINDOW = 1024;

/** Holds one stable worker ID. */
export class StableId {
  readonly #bucket: Bucket;
  readonly #options: StableIdOptions;
  #workerId: string | undefined;
  #revision = 0;
  #reclaimed = false;
  #released = false;

  /**
   * @param bucket The ID bucket.
   * @param options Range, prefix and claim value.
   */
  constructor(bucket: Bucket, options: StableIdOptions) {
    this.#bucket = bucket;
    this.#options = options;
  }

  /**
   * Whether the claim took over a live key of the same instance name (a restarted process). Its
   * previous incarnation may still run until it notices; the caller waits before taking work.
   */
  get reclaimed(): boolean {
    return this.#reclaimed;
  }

  /** The claimed ID, if any (kept after release, for reporting). */
  get workerId(): string | undefined {
    return this.#workerId;
  }

  /**
   * Claims an ID: first this instance's previous claim (when the instance name is stable), else
   * the lowest free ID.
   *
   * @returns The claimed worker ID.
   * @throws {WorkerIdExhaustedError} When every ID in the range is held.
   */
  async claim(): Promise<string> {
    const { prefix, min, max, claim } = this.#options;
    const value = encode(claim);
    if (this.#options.stableInstance) {
      const own = await this.#findOwn();
      if (own) {
        try {
          const revision = await this.#bucket.update(own.key, value, own.revision);
          this.#revision = await this.#confirm(own.key, value, revision);
          this.#workerId = own.key;
          this.#reclaimed = true;
          return own.key;
        } catch (error) {
          if (!(error instanceof RevisionConflictError)) throw error;
        }
      }
    }
    // One listing of the held IDs, then creates of the lowest free one. Processes that start
    // together all see the same lowest free ID: after SEQUENTIAL_CONFLICTS conflicts a claimant
    // picks at random among more and more free IDs (a window that grows by half per conflict, to
    // at most four per conflict so far), so a burst of N claimants settles in far fewer creates
    // than N²/2, while a lone claimant, and every claimant of a small burst, still takes the
    // lowest free ID. A large burst may leave gaps (100 claimants at once: IDs up to about 170;
    // 1,000: about 1,100), which later claims fill first.
    // A small range (e.g. one ID per process) is tried in order without a listing of the whole
    // bucket: with N workers starting, N listings of N keys each cost the server N² messages.
    const taken = new Set(max - min < SEQUENTIAL_CONFLICTS ? [] : await this.#bucket.keys());
    const random = this.#options.random ?? Math.random;
    let lowest = min;
    let conflicts = 0;
    let window = 1;
    while (true) {
      while (lowest <= max && taken.has(`${prefix}-${lowest}`)) lowest++;
      if (lowest > max) break;
      let n = lowest;
      for (let skip = Math.floor(random() * window); skip > 0; skip--) {
        let next = n + 1;
        while (next <= max && taken.has(`${prefix}-${next}`)) next++;
        if (next > max) break;
        n = next;
      }
      const key = `${prefix}-${n}`;
      try {
        const revision = await this.#bucket.create(key, value);
        this.#revision = await this.#confirm(key, value, revision);
        this.#workerId = key;
        return key;
      } catch (error) {
        if (!(error instanceof RevisionConflictError)) throw error;
      }
      taken.add(key);
      if (++conflicts >= SEQUENTIAL_CONFLICTS && window < MAX_CLAIM_WINDOW) {
        window = Math.min(Math.ceil(window * 1.5), 4 * conflicts);
      }
    }
    const size = max - min + 1;
    throw new WorkerIdExhaustedError(
      `Cannot claim a worker ID: all ${size} IDs in '${prefix}-${min}'..'${prefix}-${max}' are ` +
        `taken; raise workerIdMax or stop idle workers`,
    );
  }

  /**
   * Renews a claim just won before using it: a compare-and-set on the revision it was won at
   * succeeds only if no other process's write landed after it. A clustered nats-server before
   * 2.9.21 may accept two creates (or two compare-and-sets) of one key that are in flight together
   * (nats-server#4320), as when a pool starts at once; only the one applied last holds the key,
   * and every earlier "winner" moves on to the next ID here instead of sharing this one.
   *
   * @throws {RevisionConflictError} When another write landed after the win.
   */
  async #confirm(key: string, value: Uint8Array, revision: number): Promise<number> {
    return await this.#bucket.update(key, value, revision);
  }

  async #findOwn(): Promise<{ key: string; revision: number } | undefined> {
    const { prefix, min, max, claim } = this.#options;
    for (const key of await this.#bucket.keys()) {
      if (!key.startsWith(`${prefix}-`)) continue;
      const n = Number(key.slice(prefix.length + 1));
      if (!Number.isInteger(n) || n < min || n > max) continue;
      const entry = await this.#bucket.get(key);
      if (!entry) continue;
      try {
        if (decodeIdClaim(this.#bucket.name, key, entry.value).instance === claim.instance) {
          return { key, revision: entry.revision };
        }
      } catch (error) {
        this.#options.onError(toError(error));
      }
    }
    return undefined;
  }

  /**
   * Renews the claim by compare-and-set on the last revision.
   *
   * @throws {RevisionConflictError} When another process took the ID: it is lost.
   */
  async renew(): Promise<void> {
    const id = this.#workerId;
    if (id === undefined || this.#released) return;
    const value = encode(this.#options.claim);
    try {
      this.#revision = await this.#bucket.update(id, value, this.#revision);
      return;
    } catch (error) {
      if (!(error instanceof RevisionConflictError)) throw error;
    }
    // The revision moved or the key vanished (expired after an outage, bucket recreated, or a
    // timed-out write that did land). Keep the ID only if nobody else holds it. The ID counts as
    // lost only on evidence, another holder's value: a create that conflicts may have met our
    // own earlier write that timed out but landed, or a read served by a replica that lagged
    // behind (a clustered server after an outage); read again then.
    for (let attempt = 0; attempt < 3; attempt++) {
      const entry = await this.#bucket.get(id);
      if (entry === null) {
        try {
          this.#revision = await this.#bucket.create(id, value);
          return;
        } catch (error) {
          if (!(error instanceof RevisionConflictError)) throw error;
          continue;
        }
      }
      const holder = decodeIdClaim(this.#bucket.name, id, entry.value);
      if (holder.nonce !== this.#options.claim.nonce) {
        throw new RevisionConflictError(this.#bucket.name, id);
      }
      this.#revision = entry.revision;
      return;
    }
    throw new CoordinationUnavailableError(
      `Cannot renew worker ID '${id}' in '${this.#bucket.name}': its key keeps changing between ` +
        "a read and a write; retrying at the next heartbeat",
    );
  }

  /** Releases the ID (only if this process still holds it). Never throws on a lost race. */
  async release(): Promise<void> {
    const id = this.#workerId;
    if (id === undefined || this.#released) return;
    this.#released = true;
    try {
      await this.#bucket.delete(id, { revision: this.#revision });
    } catch (error) {
      if (!(error instanceof RevisionConflictError)) throw error;
    }
  }
}
