/**
 * The manager's state as the application sees it (`manager.state`, `onStateChanged`): set at
 * once, announced through the hook lane. `shutdown` is terminal. {@link workingState} is the rule
 * for a running worker: degraded beats everything, then waiting for a first assignment, then the
 * leader-side state while leading.
 *
 * @module
 */
import type { HookQueue } from "./hooks.ts";
import type { ControllerState } from "./leader/controller.ts";
import { type Logger, State } from "./types.ts";

/** Holds the current state and announces changes. */
export class StateMachine {
  readonly #hooks: HookQueue;
  readonly #logger: Logger | undefined;
  readonly #who: () => string | undefined;
  readonly #onChange: (to: State) => void;
  #state: State = State.Init;

  /**
   * @param hooks Where `onStateChanged` is queued.
   * @param logger Receives a debug line per change.
   * @param who The worker ID for log lines, once known.
   */
  constructor(
    hooks: HookQueue,
    logger: Logger | undefined,
    who: () => string | undefined,
    onChange: (to: State) => void = () => {},
  ) {
    this.#hooks = hooks;
    this.#logger = logger;
    this.#who = who;
    this.#onChange = onChange;
  }

  /** The current state. */
  get current(): State {
    return this.#state;
  }

  /** Moves to `to` (no-op when already there or shut down) and queues `onStateChanged`. */
  set(to: State): void {
    const from = this.#state;
    if (from === to || from === State.Shutdown) return;
    this.#state = to;
    this.#onChange(to);
    this.#logger?.debug("State changed", { from, to, workerId: this.#who() });
    void this.#hooks.call("onStateChanged", from, to);
  }
}

/** Inputs of {@link workingState}. */
export interface WorkingStateInputs {
  /** Fenced, past the deadline in "keep" mode, or the degraded monitor says so. */
  readonly degraded: boolean;
  /** Whether the first assignment has been applied. */
  readonly hasFirstAssignment: boolean;
  /** The leader-side state while leading, else `undefined`. */
  readonly leader: ControllerState | undefined;
}

/** The state a started, running worker shows. */
export function workingState(inputs: WorkingStateInputs): State {
  if (inputs.degraded) return State.Degraded;
  if (!inputs.hasFirstAssignment) return State.WaitingAssignment;
  switch (inputs.leader) {
    case "scaling":
      return State.Scaling;
    case "rebalancing":
      return State.Rebalancing;
    case "emergency":
      return State.Emergency;
    default:
      return State.Stable;
  }
}
