import { describe, expect, it, vi } from 'vitest';
import { ConfigError, parseConfig } from '../config.js';
import { describeStatement } from '../database.js';
import { createLogger } from '../logging.js';
import { NO_TELEMETRY, startTelemetry, telemetrySettingsOf, type TelemetryProviders } from './telemetry.js';

const settingsFor = (env: Record<string, string>) => telemetrySettingsOf(parseConfig({ K_REVISION: 'auth-login-00007', ...env }, []), 'auth-login', 'instance-1');

describe('telemetry settings (the standard OTEL_* variables)', () => {
  it('are off without an OTLP endpoint', () => {
    expect(settingsFor({})).toBeUndefined();
    expect(settingsFor({ OTEL_SERVICE_NAME: 'x', OTEL_RESOURCE_ATTRIBUTES: 'a=b' })).toBeUndefined();
  });

  it.each([
    ['http://collector:4318', 'http://collector:4318/v1/traces', 'http://collector:4318/v1/metrics'],
    ['http://collector:4318/', 'http://collector:4318/v1/traces', 'http://collector:4318/v1/metrics'],
    ['https://otel.example.com/base', 'https://otel.example.com/base/v1/traces', 'https://otel.example.com/base/v1/metrics'],
  ])('append the signal paths to OTEL_EXPORTER_OTLP_ENDPOINT %s', (endpoint, traces, metrics) => {
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })).toMatchObject({ tracesUrl: traces, metricsUrl: metrics, metricIntervalMs: 60_000 });
  });

  it('take a signal endpoint as given, and leave a signal set to none off', () => {
    expect(settingsFor({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/v1/traces' })).toMatchObject({ tracesUrl: 'http://tempo:4318/v1/traces', metricsUrl: undefined });
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:9090/otlp/v1/metrics' })).toMatchObject({
      tracesUrl: 'http://c:4318/v1/traces',
      metricsUrl: 'http://m:9090/otlp/v1/metrics',
    });
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toMatchObject({ tracesUrl: undefined, metricsUrl: 'http://c:4318/v1/metrics' });
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' })).toBeUndefined();
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
  });

  it('name the function and its revision by default, and honour OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES', () => {
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })?.resource).toEqual({
      'service.name': 'auth-login',
      'service.version': 'auth-login-00007',
      'service.instance.id': 'instance-1',
    });
    expect(
      settingsFor({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod, service.version=v2,team=id%20%26%20access,service.name=ignored',
        OTEL_SERVICE_NAME: 'sign-in',
        OTEL_METRIC_EXPORT_INTERVAL: '15000',
      }),
    ).toMatchObject({
      metricIntervalMs: 15_000,
      resource: { 'service.name': 'sign-in', 'service.version': 'v2', 'deployment.environment.name': 'prod', team: 'id & access', 'service.instance.id': 'instance-1' },
    });
  });

  it.each([
    ['OTEL_RESOURCE_ATTRIBUTES', 'no-equals-sign'],
    ['OTEL_RESOURCE_ATTRIBUTES', 'a=%zz'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
    ['OTEL_TRACES_EXPORTER', 'jaeger'],
  ])('refuse a malformed %s (%s) at start, naming it', (name, value) => {
    let error: unknown;
    try {
      parseConfig({ [name]: value }, []);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join('\n')).toContain(name);
  });
});

describe('startTelemetry', () => {
  const logged: Record<string, unknown>[] = [];
  const logger = createLogger({ service: 'auth-login', revision: 'r', write: (line) => logged.push(JSON.parse(line) as Record<string, unknown>) });
  const providers: TelemetryProviders = { tracer: undefined, meter: undefined, shutdown: async () => undefined };

  it('never imports the SDK while telemetry is off', async () => {
    const load = vi.fn(async () => ({ startOtlpTelemetry: () => providers }));
    expect(await startTelemetry(undefined, logger, load)).toBe(NO_TELEMETRY);
    expect(load).not.toHaveBeenCalled();
  });

  it('imports the SDK and starts it with the settings when an endpoint is set', async () => {
    const settings = settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })!;
    const start = vi.fn(() => providers);
    const telemetry = await startTelemetry(settings, logger, async () => ({ startOtlpTelemetry: start }));
    expect(telemetry).not.toBe(NO_TELEMETRY);
    expect(start).toHaveBeenCalledWith(settings, logger);
  });

  it('runs without telemetry, and says so, when the SDK cannot start', async () => {
    const settings = settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })!;
    const telemetry = await startTelemetry(settings, logger, () => Promise.reject(new Error('Cannot find module telemetry.js')));
    expect(telemetry).toBe(NO_TELEMETRY);
    expect(logged.at(-1)).toMatchObject({ severity: 'ERROR', message: 'telemetry could not start: the function runs without it' });
  });
});

describe('describeStatement (what a query span says about its statement)', () => {
  it.each([
    ['select "id", "email" from "users"."users" where "id" = $1', 'SELECT', 'users.users'],
    ['insert into "auth"."outbox" ("id", "event_type", "event") values ($1, $2, $3)', 'INSERT', 'auth.outbox'],
    ['update "auth"."outbox" set "attempts" = "attempts" + $1 where "id" = $2', 'UPDATE', 'auth.outbox'],
    ['delete from "auth"."login_failures" where "email_key" = $1', 'DELETE', 'auth.login_failures'],
    ['select "id", "event" from "auth"."outbox" where "sent_at" is null order by "created_at" limit $1 for update skip locked', 'SELECT', 'auth.outbox'],
    ['select (select count(*) as "n" from (select "id" from "auth"."login_failures") as "counted") as "byEmail"', 'SELECT', 'auth.login_failures'],
    ['select public.accounts_schema_version() as version', 'SELECT', undefined],
    ['begin', 'BEGIN', undefined],
    ['commit', 'COMMIT', undefined],
  ])('%s: %s %s', (text, operation, collection) => {
    expect(describeStatement(text)).toEqual({ operation, collection });
  });

  it('never takes a value from the statement', () => {
    expect(describeStatement("select * from pg_roles where rolname = 'secret-value'")).toEqual({ operation: 'SELECT', collection: undefined });
  });
});
