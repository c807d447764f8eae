import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../logging.js';
import type { TelemetryProviders, TelemetrySettings } from './providers.js';

/**
 * The OpenTelemetry SDK, imported only when telemetry is on: bundled on its own (dist/telemetry.js),
 * so a function without an OTLP endpoint never loads it. Tests build providers with in-memory
 * exporters through `createTelemetryProviders`.
 */

const INSTRUMENTATION_SCOPE = 'knative-accounts';

export interface ProviderOptions {
  readonly resource: Readonly<Record<string, string>>;
  /** No processor: no tracer (traces off). */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** No reader: no meter (metrics off). */
  readonly metricReaders?: readonly IMetricReader[];
}

/** A tracer and a meter over the given processors and readers, for one resource. */
export function createTelemetryProviders(options: ProviderOptions): TelemetryProviders {
  const resource = resourceFromAttributes({ ...options.resource });
  const tracing = options.spanProcessors?.length ? new BasicTracerProvider({ resource, spanProcessors: [...options.spanProcessors] }) : undefined;
  const metering = options.metricReaders?.length ? new MeterProvider({ resource, readers: [...options.metricReaders] }) : undefined;
  return {
    tracer: tracing?.getTracer(INSTRUMENTATION_SCOPE),
    meter: metering?.getMeter(INSTRUMENTATION_SCOPE),
    shutdown: async () => {
      await Promise.allSettled([tracing?.shutdown(), metering?.shutdown()]);
    },
  };
}

/**
 * Exports over OTLP/HTTP (JSON) to the settings' endpoints: spans in batches, metrics every
 * interval (cumulative, as Prometheus reads them). The exporters also read the standard
 * OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT / _COMPRESSION themselves; export failures are logged.
 */
export function startOtlpTelemetry(settings: TelemetrySettings, logger: Logger): TelemetryProviders {
  diag.setLogger(diagnosticsTo(logger), DiagLogLevel.WARN);
  return createTelemetryProviders({
    resource: settings.resource,
    spanProcessors: settings.tracesUrl ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl }))] : [],
    metricReaders: settings.metricsUrl
      ? [
          new PeriodicExportingMetricReader({
            exporter: new OTLPMetricExporter({ url: settings.metricsUrl }),
            exportIntervalMillis: settings.metricIntervalMs,
            exportTimeoutMillis: Math.min(settings.metricIntervalMs, 30_000),
          }),
        ]
      : [],
  });
}

/** The SDK's own warnings and errors (a collector that does not answer) as our JSON log lines. */
function diagnosticsTo(logger: Logger): DiagLogger {
  const detail = (message: string, args: unknown[]) => ({ detail: [message, ...args.map((arg) => (arg instanceof Error ? arg.message : String(arg)))].join(' ').slice(0, 500) });
  const ignore = () => undefined;
  return {
    error: (message, ...args) => logger.error('telemetry', detail(message, args)),
    warn: (message, ...args) => logger.warn('telemetry', detail(message, args)),
    info: ignore,
    debug: ignore,
    verbose: ignore,
  };
}
