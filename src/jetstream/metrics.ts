/**
 * The consumer's per-partition counters, also recorded through a metrics recorder: the counters
 * keep their plain-number shape (the runner and the delivery tracker just increment them) while
 * every change is forwarded as a counter increment or a gauge value.
 *
 * @module
 */
import type { MetricLabels, MetricsRecorder } from "../observability/metrics.ts";
import type { PartitionCounters } from "./partition_runner.ts";

const COUNTERS = {
  handled: ["consumer_messages_handled", "Messages handled and acked"],
  redelivered: [
    "consumer_messages_redelivered",
    "Messages received that had been delivered before",
  ],
  nacked: ["consumer_messages_nacked", "Messages nak'd for redelivery"],
} as const;

/** Makes the counters of one partition, recorded under `labels` when a recorder is given. */
export function partitionCounters(
  recorder: MetricsRecorder | undefined,
  labels: MetricLabels,
): PartitionCounters {
  const counters: PartitionCounters = { handled: 0, redelivered: 0, nacked: 0, inFlight: 0 };
  if (!recorder) return counters;
  const names = Object.keys(labels);
  const values = { ...counters };
  for (const [field, [name, help]] of Object.entries(COUNTERS)) {
    const key = field as keyof typeof COUNTERS;
    const counter = recorder.counter(name, help, names);
    Object.defineProperty(counters, key, {
      get: () => values[key],
      set: (v: number) => {
        if (v > values[key]) counter.add(v - values[key], labels);
        values[key] = v;
      },
    });
  }
  const inFlight = recorder.gauge("consumer_in_flight", "Handlers running now", names);
  inFlight.set(0, labels);
  Object.defineProperty(counters, "inFlight", {
    get: () => values.inFlight,
    set: (v: number) => {
      values.inFlight = v;
      inFlight.set(v, labels);
    },
  });
  return counters;
}
