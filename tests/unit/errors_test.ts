import assert from "node:assert/strict";
import {
  AlreadyStartedError,
  BucketConfigMismatchError,
  BucketNotFoundError,
  CoordinationUnavailableError,
  EngineUnavailableError,
  InvalidConfigError,
  InvalidPartitionError,
  LeadershipLostError,
  MalformedDataError,
  NotStartedError,
  OperationTimeoutError,
  PartiError,
  type PartiErrorCode,
  PartitionSourceError,
  PermissionDeniedError,
  RevisionConflictError,
  RevokeTimeoutError,
  StrategyError,
  toError,
  UnplacedPartitionsError,
  WorkerIdExhaustedError,
} from "../../src/errors.ts";
import {
  PartitionedConsumerError,
  type PartitionedConsumerErrorCode,
} from "../../src/jetstream/errors.ts";

Deno.test("every error code has a subclass, and its instances carry that code", () => {
  // A Record over the code union: adding a code without a subclass here fails type checking.
  const byCode: Record<PartiErrorCode, [PartiError, string]> = {
    INVALID_CONFIG: [new InvalidConfigError("group", "bad"), "InvalidConfigError"],
    INVALID_PARTITION: [new InvalidPartitionError(0, "bad"), "InvalidPartitionError"],
    WORKER_ID_EXHAUSTED: [new WorkerIdExhaustedError("full"), "WorkerIdExhaustedError"],
    NOT_STARTED: [new NotStartedError(), "NotStartedError"],
    ALREADY_STARTED: [new AlreadyStartedError(), "AlreadyStartedError"],
    LEADERSHIP_LOST: [new LeadershipLostError("lost"), "LeadershipLostError"],
    REVISION_CONFLICT: [new RevisionConflictError("b", "k"), "RevisionConflictError"],
    COORDINATION_UNAVAILABLE: [
      new CoordinationUnavailableError("down"),
      "CoordinationUnavailableError",
    ],
    BUCKET_NOT_FOUND: [new BucketNotFoundError("b"), "BucketNotFoundError"],
    BUCKET_CONFIG_MISMATCH: [new BucketConfigMismatchError("b", "x"), "BucketConfigMismatchError"],
    PERMISSION_DENIED: [
      new PermissionDeniedError("publish", "$JS.API.INFO", "open bucket 'b'"),
      "PermissionDeniedError",
    ],
    MALFORMED_DATA: [new MalformedDataError("b", "k", "x"), "MalformedDataError"],
    STRATEGY_FAILED: [new StrategyError("x"), "StrategyError"],
    UNPLACED: [new UnplacedPartitionsError(["a"]), "UnplacedPartitionsError"],
    SOURCE_FAILED: [new PartitionSourceError("x"), "PartitionSourceError"],
    TIMEOUT: [new OperationTimeoutError("x"), "OperationTimeoutError"],
    REVOKE_TIMEOUT: [new RevokeTimeoutError("x", ["p/1"]), "RevokeTimeoutError"],
    ENGINE_UNAVAILABLE: [new EngineUnavailableError("x"), "EngineUnavailableError"],
    ...Object.fromEntries(
      (
        [
          "HANDLER_FAILED",
          "HANDLER_TIMEOUT",
          "REDELIVERED",
          "CONSUMER_SETUP_FAILED",
          "CONSUMER_MISMATCH",
          "PULL_FAILED",
          "DRAIN_TIMEOUT",
        ] as const
      ).map((code) => [
        code,
        [new PartitionedConsumerError(code, "p/1", "x"), "PartitionedConsumerError"],
      ]),
    ) as unknown as Record<PartitionedConsumerErrorCode, [PartiError, string]>,
  };
  for (const [code, [error, name]] of Object.entries(byCode)) {
    assert.ok(error instanceof PartiError, name);
    assert.equal(error.code, code, name);
    assert.equal(error.name, name);
  }
});

Deno.test("NotStartedError accepts a message and a cause, so an aborted start() is one", () => {
  const reason = new DOMException("stop", "AbortError");
  const error = new NotStartedError("start() was aborted before it began", { cause: reason });
  assert.equal(error.code, "NOT_STARTED");
  assert.equal(error.message, "start() was aborted before it began");
  assert.equal(error.cause, reason);
  assert.match(new NotStartedError().message, /call start\(\) first/);
});

Deno.test("the timeout and bucket errors are coordination errors", () => {
  assert.ok(new OperationTimeoutError("x") instanceof CoordinationUnavailableError);
  assert.ok(new BucketNotFoundError("b") instanceof CoordinationUnavailableError);
});

Deno.test("toError() returns an Error as is", () => {
  const errors = [new Error("a"), new RangeError("b"), new NotStartedError()];
  for (const error of errors) assert.equal(toError(error), error);
});

Deno.test("toError() wraps any other thrown value with the value as cause", () => {
  const object = { reason: "x" };
  for (const value of ["boom", 42, undefined, null, object, Symbol("s"), 10n]) {
    const error = toError(value);
    assert.ok(error instanceof Error);
    assert.equal(error.cause, value);
    assert.match(error.message, /^Non-error value thrown: /);
  }
  assert.equal(toError("boom").message, "Non-error value thrown: 'boom'");
  assert.equal(toError(undefined).message, "Non-error value thrown: undefined");
  assert.equal(toError(object).message, "Non-error value thrown: an object");
});
