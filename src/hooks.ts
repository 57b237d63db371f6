/**
 * The lane for the application's callbacks, and only for them: hooks run one at a time, in the
 * order they were queued, each awaited; a hook that throws (or rejects) is reported to `onError`,
 * which runs in the same lane, and never stops the manager. The manager's own work (applying an
 * assignment, fencing, starting a leader term) never waits in this lane: it queues the hooks it
 * owes the application and waits for them only where the protocol needs it (an assignment is
 * acknowledged to the leader once its hooks have resolved). Helpers such as the JetStream consumer
 * add their own hook sets to the same lane (`Manager.subscribe`), so a revoke waits for them too.
 *
 * @module
 */
import { PartiError } from "./errors.ts";
import { failSpan, type TracerLike } from "./observability/tracing.ts";
import { partitionId } from "./partition.ts";
import type { AssignmentChange, FencingToken, Hooks, Logger } from "./types.ts";
import type { AppliedChange } from "./worker/applier.ts";

/** The names of the hooks that take arguments from the manager (every hook but `onError`). */
export type HookName = Exclude<keyof Hooks, "onError">;

/** The arguments of hook `K`. */
export type HookArgs<K extends HookName> = Parameters<NonNullable<Hooks[K]>>;

/** What `Manager.subscribe()` returns. */
export interface Subscription extends AsyncDisposable {
  /** Reports a problem through the manager's `onError` hooks and logger, in the hook lane. */
  reportError(error: unknown): void;
  /** Removes the hooks; resolves once hooks in flight have finished. Idempotent. */
  unsubscribe(): Promise<void>;
}

/** Told how each hook went and about each reported problem (the manager's metrics). */
export interface HookObserver {
  /** A hook finished, after `seconds`, having thrown or not. */
  hookRan(name: HookName, seconds: number, failed: boolean): void;
  /** A problem was reported (at once, not when `onError` runs). */
  errorReported(code: string | undefined): void;
  /** Opens a `parti.hook` span per invocation. */
  readonly tracer: TracerLike;
}

/** Runs the user's hooks one at a time, in order. */
export class HookQueue {
  /** The options' hooks first, then every added set, in the order they were added. */
  readonly #sets: Hooks[];
  readonly #logger: Logger | undefined;
  #tail: Promise<void> = Promise.resolve();
  /** What the hooks have been told so far: the last assignment and each partition's token. */
  #told: AssignmentChange["assignment"] | undefined;
  readonly #tokens = new Map<string, FencingToken>();
  readonly #observer: HookObserver | undefined;

  /**
   * @param hooks The application's hooks (all optional).
   * @param logger Receives one line per reported error.
   * @param observer Told each hook's duration and each reported problem.
   */
  constructor(hooks: Hooks, logger?: Logger, observer?: HookObserver) {
    this.#sets = [hooks];
    this.#logger = logger;
    this.#observer = observer;
  }

  /**
   * Queues a call of hook `name` on every hook set.
   *
   * @returns Resolves once the hook (and `onError`, if it threw) has finished; never rejects.
   */
  call<K extends HookName>(name: K, ...args: HookArgs<K>): Promise<void> {
    return this.#enqueue(async () => {
      if (name === "onAssignmentChanged") this.#remember(args[0] as AssignmentChange);
      for (const set of [...this.#sets]) await this.#invoke(set, name, args);
    });
  }

  /**
   * Adds a set of hooks, in the lane: it is first told what the hooks were told so far (the
   * current assignment as "added", with each partition's token), then everything after.
   *
   * @returns The subscription; unsubscribing removes the set again (also in the lane).
   * @throws {TypeError} When `hooks` is not an object.
   */
  subscribe(hooks: Hooks): Subscription {
    if (typeof hooks !== "object" || hooks === null) {
      throw new TypeError("subscribe() needs an object of hooks such as { onAssignmentChanged }");
    }
    const remove = this.#add(hooks);
    let removed: Promise<void> | undefined;
    const unsubscribe = () => (removed ??= remove());
    return {
      reportError: (error) => void this.error(error),
      unsubscribe,
      [Symbol.asyncDispose]: unsubscribe,
    };
  }

  #add(hooks: Hooks): () => Promise<void> {
    void this.#enqueue(async () => {
      this.#sets.push(hooks);
      const assignment = this.#told;
      if (!assignment || assignment.partitions.length === 0) return;
      const token = { epoch: assignment.epoch, version: assignment.version };
      const change: AssignmentChange = {
        added: assignment.partitions,
        removed: [],
        removedTokens: [],
        reason: "assigned",
        assignment,
        token,
      };
      await this.#invoke(hooks, "onAssignmentChanged", [change]);
      for (const p of assignment.partitions) {
        await this.#invoke(hooks, "onPartitionAdded", [p, this.#tokens.get(partitionId(p))!]);
      }
    });
    return () =>
      this.#enqueue(() => {
        const i = this.#sets.indexOf(hooks);
        if (i > 0) this.#sets.splice(i, 1);
        return Promise.resolve();
      });
  }

  #remember(change: AssignmentChange): void {
    this.#told = change.assignment;
    for (const p of change.removed) this.#tokens.delete(partitionId(p));
    for (const p of change.added) this.#tokens.set(partitionId(p), change.token);
  }

  async #invoke<K extends HookName>(set: Hooks, name: K, args: HookArgs<K>): Promise<void> {
    const hook = set[name] as ((...a: HookArgs<K>) => unknown) | undefined;
    if (hook === undefined) return;
    const startedAt = performance.now();
    const span = this.#observer?.tracer.startSpan("parti.hook", { attributes: { hook: name } });
    let thrown: { error: unknown } | undefined;
    try {
      await hook.apply(set, args);
    } catch (error) {
      thrown = { error };
      if (span) failSpan(span, error);
    }
    span?.end();
    // Its own duration, without the onError hooks that report its failure.
    this.#observer?.hookRan(name, (performance.now() - startedAt) / 1000, thrown !== undefined);
    if (thrown) {
      const { error } = thrown;
      this.#observer?.errorReported(error instanceof PartiError ? error.code : undefined);
      await this.#report(error, name);
    }
  }

  /**
   * Queues a report to `onError` (and the logger).
   *
   * @returns Resolves once `onError` has finished; never rejects.
   */
  error(error: unknown): Promise<void> {
    this.#observer?.errorReported(error instanceof PartiError ? error.code : undefined);
    return this.#enqueue(() => this.#report(error));
  }

  /** Resolves once everything queued so far has finished. */
  idle(): Promise<void> {
    return this.#tail;
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    // The tail never rejects: every task catches its own errors.
    const run = this.#tail.then(task);
    this.#tail = run;
    return run;
  }

  async #report(thrown: unknown, hook?: HookName): Promise<void> {
    const error = thrown instanceof Error ? thrown : new Error(String(thrown), { cause: thrown });
    const code = error instanceof PartiError ? error.code : undefined;
    this.#logger?.warn(hook ? `Hook ${hook} threw: ${error.message}` : error.message, {
      ...(code ? { code } : {}),
      ...(hook ? { hook } : {}),
    });
    for (const set of [...this.#sets]) {
      try {
        await set.onError?.(error);
      } catch {
        // An error hook that throws has nowhere left to report to.
      }
    }
  }
}

/**
 * The hooks an assignment change owes the application, queued together: `onAssignmentChanged`,
 * then `onPartitionRemoved` per removed partition (with the token it was held by), then
 * `onPartitionAdded` per added one.
 *
 * @returns A function that queues them and resolves once the last one has finished.
 */
export function assignmentHooks(queue: HookQueue): (applied: AppliedChange) => Promise<void> {
  return ({ change }) => {
    let last = queue.call("onAssignmentChanged", change);
    change.removed.forEach((p, i) => {
      last = queue.call("onPartitionRemoved", p, change.removedTokens[i]!);
    });
    for (const p of change.added) last = queue.call("onPartitionAdded", p, change.token);
    return last;
  };
}
