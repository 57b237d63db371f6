import assert from "node:assert/strict";
import { defaults, type ResolvedDegradedOptions } from "../../src/config.ts";
import type { DegradedAlertLevel } from "../../src/types.ts";
import { DegradedMonitor } from "../../src/worker/degraded.ts";

function setup(settings: Partial<ResolvedDegradedOptions> = {}) {
  let now = 0;
  const events: string[] = [];
  const monitor = new DegradedMonitor({
    settings: { ...defaults.degraded, ...settings },
    clock: { now: () => now },
    onEnter: () => void events.push("enter"),
    onExit: (d) => void events.push(`exit ${d}`),
    onAlert: (level: DegradedAlertLevel, d) => void events.push(`${level} ${d}`),
  });
  return { monitor, events, advance: (ms: number) => void (now += ms) };
}

Deno.test("a failure streak of enterAfterMs enters degraded mode, exitAfterMs of health leaves it", () => {
  const { monitor, events, advance } = setup({ enterAfterMs: 1_000, exitAfterMs: 500 });
  monitor.failure();
  advance(999);
  monitor.tick();
  assert.equal(monitor.degraded, false);
  advance(1);
  monitor.tick();
  assert.equal(monitor.degraded, true);
  monitor.success();
  advance(499);
  monitor.tick();
  assert.equal(monitor.degraded, true);
  advance(1);
  monitor.tick();
  assert.equal(monitor.degraded, false);
  assert.deepEqual(events, ["enter", "exit 500"]);
});

Deno.test("kvErrorThreshold failures within the window enter degraded mode even between successes", () => {
  const { monitor, advance } = setup({ kvErrorThreshold: 3, kvErrorWindowMs: 1_000 });
  monitor.failure();
  monitor.success();
  advance(600);
  monitor.failure();
  monitor.success();
  advance(600); // the first error left the window
  monitor.failure();
  assert.equal(monitor.degraded, false);
  monitor.failure();
  assert.equal(monitor.degraded, true);
});

Deno.test("alerts escalate once per level with the time spent degraded", () => {
  const { monitor, events, advance } = setup({
    enterAfterMs: 0,
    alertThresholdsMs: { info: 100, warn: 200, error: 300, critical: 400 },
  });
  monitor.failure();
  for (let i = 0; i < 10; i++) {
    advance(50);
    monitor.tick();
  }
  assert.deepEqual(events, ["enter", "info 100", "warn 200", "error 300", "critical 400"]);
});
