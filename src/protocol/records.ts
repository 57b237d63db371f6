/**
 * The records Parti keeps in its KV buckets and their (de)serialisation. Every value read from a
 * bucket is validated here: foreign or corrupted data becomes a `MalformedDataError` for the error
 * hook instead of a crash or a wrong assignment.
 *
 * @module
 */
import { describeLabelsProblem } from "../labels.ts";
import { MalformedDataError } from "../errors.ts";
import { describePartitionProblem, type Partition } from "../partition.ts";

/** A stable-ID claim. */
export interface IdClaimRecord {
  /** Stable process name, or a random value when none is configured. */
  readonly instance: string;
  /** Random per manager start: tells two processes with the same instance name apart. */
  readonly nonce: string;
}

/** A heartbeat. */
export interface HeartbeatRecord {
  /** Claimant's instance. */
  readonly instance: string;
  /** Claimant's nonce. */
  readonly nonce: string;
  /** Manager state of the worker. */
  readonly state: string;
  /** Version of the assignment the worker applied (hooks resolved). */
  readonly appliedVersion: number;
  /** Number of partitions the worker owns. */
  readonly owned: number;
  /** Short digest of the owned partition IDs (the leader compares it with what it published). */
  readonly ownedDigest: string;
  /**
   * The worker's current incarnation: new for every process and again after every self-fence. The
   * leader addresses each assignment to one incarnation, and the worker takes only assignments
   * addressed to its current one, so a publication written before it fenced (and perhaps handed
   * on since) is never applied after it comes back.
   */
  readonly incarnation: string;
  /** The worker's capacity (absent = 1). */
  readonly capacity?: number;
  /** The worker's labels (absent = none). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Measured load of the worker's partitions, when it reports any (load-aware rebalancing). */
  readonly load?: LoadDigest;
}

/** The measured load a heartbeat carries: the heaviest partitions exactly, the rest as a sum. */
export interface LoadDigest {
  /** Partition ID and load of the heaviest reported partitions. */
  readonly top: readonly (readonly [string, number])[];
  /** Sum of the loads of the other reported partitions. */
  readonly restSum: number;
  /** How many partitions `restSum` covers. */
  readonly restCount: number;
}

/** The leader lease. */
export interface LeaderRecord {
  /** Worker ID of the leader. */
  readonly workerId: string;
  /** Instance of the leader. */
  readonly instance: string;
  /** Nonce of the leader's manager. */
  readonly nonce: string;
  /** Leadership term; increases with every takeover. */
  readonly epoch: number;
  /** Lease duration the leader runs with (informational; observers use their own). */
  readonly leaseMs: number;
  /**
   * Set by a leader that resigned (graceful stop): the lease is free at once, and the record
   * keeps the epoch so the next leader continues above it.
   */
  readonly released?: boolean;
}

/** One worker's published assignment. */
export interface WorkerAssignmentRecord {
  /** Leader epoch that published it. */
  readonly epoch: number;
  /** Publication version. */
  readonly version: number;
  /** `"revoke"` when it only takes partitions away (first step of a hand-off), else `"assign"`. */
  readonly phase: "revoke" | "assign";
  /** The partitions, absent when chunked. */
  readonly partitions?: readonly Partition[];
  /** Number of chunks when the partitions are stored in chunk keys. */
  readonly chunks?: number;
  /** The worker incarnation it is addressed to (see {@link HeartbeatRecord.incarnation}). */
  readonly incarnation: string;
}

/** One chunk of a large worker assignment. */
export interface ChunkRecord {
  /** Version the chunk belongs to. */
  readonly version: number;
  /** Epoch the chunk belongs to. */
  readonly epoch: number;
  /** The partitions in this chunk. */
  readonly partitions: readonly Partition[];
}

/** Publication summary. */
export interface MetaRecord {
  /** Leader epoch. */
  readonly epoch: number;
  /** Latest version. */
  readonly version: number;
  /** Workers with a non-empty or explicitly empty assignment in this publication. */
  readonly workers: readonly string[];
  /** Number of partitions assigned. */
  readonly partitionCount: number;
  /** Partitions awaiting revocation before they are handed over. */
  readonly pending: number;
  /** Wall-clock time of the publication (informational only, never used for decisions). */
  readonly at: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Serialises a record to bytes. */
export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function parse(bucket: string, key: string, bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new MalformedDataError(bucket, key, "not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MalformedDataError(bucket, key, "not a JSON object");
  }
  return value as Record<string, unknown>;
}

function str(bucket: string, key: string, o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== "string") {
    throw new MalformedDataError(bucket, key, `'${field}' is not a string`);
  }
  return v;
}

function num(bucket: string, key: string, o: Record<string, unknown>, field: string): number {
  const v = o[field];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new MalformedDataError(bucket, key, `'${field}' is not a non-negative integer`);
  }
  return v;
}

/**
 * The largest epoch or version a record may carry: 2^52. No honest count gets near it (a takeover
 * or publication every microsecond would take 142 years), and it stays below 2^53, where JSON
 * numbers stop being exact. A record carrying more is malformed like any other foreign value, so
 * no worker takes it and no leader continues a count from it. MAX_COUNTER itself is well-formed but
 * has no successor a record could carry: writers report it once and count from the highest
 * value below it (`worker/election.ts`, `leader/publisher.ts`), and never write above it, so every
 * epoch and version Parti writes is one its readers accept.
 */
export const MAX_COUNTER = 2 ** 52;

/** An epoch or version: a non-negative integer no larger than {@link MAX_COUNTER}. */
function counter(bucket: string, key: string, o: Record<string, unknown>, field: string): number {
  const v = num(bucket, key, o, field);
  if (v > MAX_COUNTER) {
    throw new MalformedDataError(
      bucket,
      key,
      `'${field}' ${v} is above 2^52, more than any leader counts to`,
    );
  }
  return v;
}

function partitions(
  bucket: string,
  key: string,
  value: unknown,
): Partition[] {
  if (!Array.isArray(value)) {
    throw new MalformedDataError(bucket, key, "'partitions' is not an array");
  }
  for (let i = 0; i < value.length; i++) {
    const problem = describePartitionProblem(value[i]);
    if (problem) throw new MalformedDataError(bucket, key, `partitions[${i}] ${problem}`);
  }
  return value as Partition[];
}

/** Reads an ID claim; throws `MalformedDataError` on foreign data. */
export function decodeIdClaim(bucket: string, key: string, bytes: Uint8Array): IdClaimRecord {
  const o = parse(bucket, key, bytes);
  return { instance: str(bucket, key, o, "instance"), nonce: str(bucket, key, o, "nonce") };
}

/** Reads a heartbeat; throws `MalformedDataError` on foreign data. */
export function decodeHeartbeat(bucket: string, key: string, bytes: Uint8Array): HeartbeatRecord {
  const o = parse(bucket, key, bytes);
  return {
    instance: str(bucket, key, o, "instance"),
    nonce: str(bucket, key, o, "nonce"),
    state: str(bucket, key, o, "state"),
    appliedVersion: counter(bucket, key, o, "appliedVersion"),
    owned: num(bucket, key, o, "owned"),
    ownedDigest: str(bucket, key, o, "ownedDigest"),
    incarnation: str(bucket, key, o, "incarnation"),
    ...placementFields(bucket, key, o),
  };
}

/** Most entries of a heartbeat's load digest a reader accepts. */
const MAX_DIGEST_ENTRIES = 1_000;

function nonNegative(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

/** The optional placement fields of a heartbeat, validated. */
function placementFields(
  bucket: string,
  key: string,
  o: Record<string, unknown>,
): Pick<HeartbeatRecord, "capacity" | "labels" | "load"> {
  const out: { capacity?: number; labels?: Readonly<Record<string, string>>; load?: LoadDigest } =
    {};
  if (o.capacity !== undefined) {
    const c = o.capacity;
    if (typeof c !== "number" || !Number.isFinite(c) || c <= 0) {
      throw new MalformedDataError(bucket, key, "'capacity' is not a number greater than 0");
    }
    out.capacity = c;
  }
  if (o.labels !== undefined) {
    const problem = describeLabelsProblem(o.labels);
    if (problem !== undefined) throw new MalformedDataError(bucket, key, `'labels' ${problem}`);
    out.labels = o.labels as Record<string, string>;
  }
  if (o.load !== undefined) {
    const l = o.load as { top?: unknown; restSum?: unknown; restCount?: unknown } | null;
    const top = l?.top;
    const ok = typeof l === "object" && l !== null && Array.isArray(top) &&
      top.length <= MAX_DIGEST_ENTRIES && nonNegative(l.restSum) &&
      Number.isSafeInteger(l.restCount) && (l.restCount as number) >= 0 &&
      top.every((e) =>
        Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && nonNegative(e[1])
      );
    if (!ok) throw new MalformedDataError(bucket, key, "'load' is not a load digest");
    out.load = l as unknown as LoadDigest;
  }
  return out;
}

/** Reads the leader lease; throws `MalformedDataError` on foreign data. */
export function decodeLeader(bucket: string, key: string, bytes: Uint8Array): LeaderRecord {
  const o = parse(bucket, key, bytes);
  return {
    workerId: str(bucket, key, o, "workerId"),
    instance: str(bucket, key, o, "instance"),
    nonce: str(bucket, key, o, "nonce"),
    epoch: counter(bucket, key, o, "epoch"),
    leaseMs: num(bucket, key, o, "leaseMs"),
    ...(o.released === true ? { released: true } : {}),
  };
}

/** Reads a worker assignment; throws `MalformedDataError` on foreign data. */
export function decodeWorkerAssignment(
  bucket: string,
  key: string,
  bytes: Uint8Array,
): WorkerAssignmentRecord {
  const o = parse(bucket, key, bytes);
  const phase = o.phase;
  if (phase !== "revoke" && phase !== "assign") {
    throw new MalformedDataError(bucket, key, "'phase' is not 'revoke' or 'assign'");
  }
  const base = {
    epoch: counter(bucket, key, o, "epoch"),
    version: counter(bucket, key, o, "version"),
    phase: phase as "revoke" | "assign",
    incarnation: str(bucket, key, o, "incarnation"),
  };
  if (o.chunks !== undefined) return { ...base, chunks: num(bucket, key, o, "chunks") };
  return { ...base, partitions: partitions(bucket, key, o.partitions) };
}

/** Reads a chunk; throws `MalformedDataError` on foreign data. */
export function decodeChunk(bucket: string, key: string, bytes: Uint8Array): ChunkRecord {
  const o = parse(bucket, key, bytes);
  return {
    epoch: counter(bucket, key, o, "epoch"),
    version: counter(bucket, key, o, "version"),
    partitions: partitions(bucket, key, o.partitions),
  };
}

/** Reads the publication summary; throws `MalformedDataError` on foreign data. */
export function decodeMeta(bucket: string, key: string, bytes: Uint8Array): MetaRecord {
  const o = parse(bucket, key, bytes);
  const workers = o.workers;
  if (!Array.isArray(workers) || workers.some((w) => typeof w !== "string")) {
    throw new MalformedDataError(bucket, key, "'workers' is not an array of strings");
  }
  return {
    epoch: counter(bucket, key, o, "epoch"),
    version: counter(bucket, key, o, "version"),
    workers: workers as string[],
    partitionCount: num(bucket, key, o, "partitionCount"),
    pending: typeof o.pending === "number" ? o.pending : 0,
    at: typeof o.at === "string" ? o.at : "",
  };
}

/** Compares two (epoch, version) pairs: negative, zero or positive. */
export function compareVersions(
  a: { readonly epoch: number; readonly version: number },
  b: { readonly epoch: number; readonly version: number },
): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.version - b.version;
}

/** A short, stable digest of a set of partition IDs (FNV-1a over the sorted IDs). */
export function digestIds(ids: Iterable<string>): string {
  const sorted = [...ids].sort();
  let h = 0x811c9dc5;
  for (const id of sorted) {
    for (let i = 0; i < id.length; i++) {
      h ^= id.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    h ^= 0x2f;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${sorted.length}:${h.toString(16).padStart(8, "0")}`;
}

/** The drained workers: kept alive, given no partitions. */
export interface DrainRecord {
  /** Drained worker IDs. */
  readonly workers: readonly string[];
}

/** A request from any worker to the leader. */
export interface RequestRecord {
  /** The requesting worker. */
  readonly from: string;
  /** Unique per request, so two equal requests are two revisions. */
  readonly id: string;
}

/** Reads the drain list; throws `MalformedDataError` on foreign data. */
export function decodeDrain(bucket: string, key: string, bytes: Uint8Array): DrainRecord {
  const o = parse(bucket, key, bytes);
  const workers = o.workers;
  if (!Array.isArray(workers) || workers.some((w) => typeof w !== "string")) {
    throw new MalformedDataError(bucket, key, "'workers' is not an array of strings");
  }
  return { workers: workers as string[] };
}
