import type { Meter, Tracer } from '@opentelemetry/api';

/**
 * What the telemetry loader (telemetry.ts) and the SDK module (sdk.ts, bundled apart) say to each
 * other: a file of its own, so neither imports the other back.
 */

/** Where telemetry goes and what it says about where it comes from. */
export interface TelemetrySettings {
  /** OTLP/HTTP traces endpoint; undefined: no traces. */
  readonly tracesUrl: string | undefined;
  /** OTLP/HTTP metrics endpoint; undefined: no metrics. */
  readonly metricsUrl: string | undefined;
  readonly metricIntervalMs: number;
  /** The resource's attributes: service.name, service.version, service.instance.id and OTEL_RESOURCE_ATTRIBUTES. */
  readonly resource: Readonly<Record<string, string>>;
}

/** What the SDK hands back: a tracer and a meter for the signals that are on. */
export interface TelemetryProviders {
  readonly tracer: Tracer | undefined;
  readonly meter: Meter | undefined;
  /** Exports what is still buffered, then stops. */
  shutdown(): Promise<void>;
}
