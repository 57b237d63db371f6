/**
 * The consumer's per-partition counters, also recorded through a metrics recorder: the counters
 * keep their plain-number shape (the runner and the delivery tracker just increment them) while
 * every change is forwarded as a counter increment or a gauge value.
 *
 * @module
 */
import type { MetricLabels, MetricsRecorder } from "../observability/metrics.ts";
import type { PartitionCounters } from "./partition_runner.ts";

/** Makes the counters of one partition, recorded under `labels` when a recorder is given. */
export function partitionCounters(
  recorder: MetricsRecorder | undefined,
  labels: MetricLabels,
): PartitionCounters {
  if (!recorder) return { handled: 0, redelivered: 0, nacked: 0, inFlight: 0 };
  const names = Object.keys(labels);
  const handled = recorder.counter(
    "consumer_messages_handled",
    "Messages handled and acked",
    names,
  );
  const redelivered = recorder.counter(
    "consumer_messages_redelivered",
    "Messages received that had been delivered before",
    names,
  );
  const nacked = recorder.counter(
    "consumer_messages_nacked",
    "Messages nak'd for redelivery",
    names,
  );
  const inFlight = recorder.gauge("consumer_in_flight", "Handlers running now", names);
  const values = { handled: 0, redelivered: 0, nacked: 0, inFlight: 0 };
  inFlight.set(0, labels);
  return {
    get handled() {
      return values.handled;
    },
    set handled(v: number) {
      if (v > values.handled) handled.add(v - values.handled, labels);
      values.handled = v;
    },
    get redelivered() {
      return values.redelivered;
    },
    set redelivered(v: number) {
      if (v > values.redelivered) redelivered.add(v - values.redelivered, labels);
      values.redelivered = v;
    },
    get nacked() {
      return values.nacked;
    },
    set nacked(v: number) {
      if (v > values.nacked) nacked.add(v - values.nacked, labels);
      values.nacked = v;
    },
    get inFlight() {
      return values.inFlight;
    },
    set inFlight(v: number) {
      values.inFlight = v;
      inFlight.set(v, labels);
    },
  };
}
