import type { Attributes } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createTelemetryProviders } from '../../functions/shared/telemetry/sdk.js';
import { telemetryFrom, type Telemetry } from '../../functions/shared/telemetry/telemetry.js';

/**
 * The functions' telemetry read back through the SDK's in-memory exporters: every finished span,
 * and the metrics recorded since the last `reset()` (delta temporality, so each test counts its own).
 */
export interface TestTelemetry {
  readonly telemetry: Telemetry;
  /** Every span finished since the last reset, in the order they ended. */
  spans(): ReadableSpan[];
  /** A counter's total, or a gauge's last value, over the points whose attributes include `attributes`; 0 when none. */
  value(name: string, attributes?: Attributes): Promise<number>;
  /** How many values a histogram recorded, over the points whose attributes include `attributes`. */
  count(name: string, attributes?: Attributes): Promise<number>;
  /** Forgets the spans and the metrics recorded so far. */
  reset(): Promise<void>;
  shutdown(): Promise<void>;
}

export function createTestTelemetry(resource: Record<string, string> = { 'service.name': 'test' }): TestTelemetry {
  const spanExporter = new InMemorySpanExporter();
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  // Exports only when flushed: an hour is longer than any test.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const providers = createTelemetryProviders({ resource, spanProcessors: [new SimpleSpanProcessor(spanExporter)], metricReaders: [reader] });

  const points = async (name: string, attributes: Attributes) => {
    await reader.forceFlush();
    return metricExporter
      .getMetrics()
      .flatMap((resourceMetrics) => resourceMetrics.scopeMetrics)
      .flatMap((scope) => scope.metrics)
      .filter((metric) => metric.descriptor.name === name)
      .flatMap((metric) => metric.dataPoints.map((point) => ({ type: metric.dataPointType, point })))
      .filter(({ point }) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value));
  };

  return {
    telemetry: telemetryFrom(providers),
    spans: () => spanExporter.getFinishedSpans(),
    value: async (name, attributes = {}) => {
      const found = await points(name, attributes);
      if (found.length === 0) return 0;
      if (found[0]?.type === DataPointType.GAUGE) return found.at(-1)?.point.value as number;
      return found.reduce((total, { point }) => total + (point.value as number), 0);
    },
    count: async (name, attributes = {}) => {
      const found = await points(name, attributes);
      return found.reduce((total, { point }) => total + ((point.value as { count?: number }).count ?? 0), 0);
    },
    reset: async () => {
      await reader.forceFlush();
      metricExporter.reset();
      spanExporter.reset();
    },
    shutdown: () => providers.shutdown(),
  };
}
