import { HTTP, type CloudEventV1 } from 'cloudevents';
import type { ServerResponse } from 'node:http';
import type { FunctionRequest, HttpHandler } from '../http/edge.js';
import { HttpProblems } from '../http/errors.js';
import { toProblem } from '../http/problem.js';
import { sendProblem } from '../http/respond.js';

const REQUIRED_ATTRIBUTES = ['specversion', 'id', 'source', 'type'] as const;

/**
 * Serves a CloudEvent handler over HTTP, as a Knative subscriber: the event is decoded by the
 * cloudevents SDK (binary or structured mode), the handler's success answers 204 and its failure
 * a bare 500, or 503 with Retry-After when a dependency was unavailable (either way the broker
 * delivers again). A request that is not a CloudEvent answers 400, which
 * the broker treats as final: delivering it again cannot make it one.
 */
export function cloudEventRoute(handler: (event: CloudEventV1<unknown>) => Promise<void>): HttpHandler {
  return async (req: FunctionRequest, res: ServerResponse) => {
    const event = decodeCloudEvent(req);
    if (!event) {
      return sendProblem(res, HttpProblems.notACloudEvent.example());
    }
    try {
      await handler(event);
    } catch (error) {
      const { problem, headers } = toProblem(error);
      return sendProblem(res, problem, headers);
    }
    res.statusCode = 204;
    res.end();
  };
}

function decodeCloudEvent(req: FunctionRequest): CloudEventV1<unknown> | undefined {
  // The SDK fills in a missing id or time; an event must bring its own attributes.
  if (!REQUIRED_ATTRIBUTES.every((name) => hasAttribute(req, name))) return undefined;
  try {
    const decoded = HTTP.toEvent({ headers: req.headers, body: req.body });
    return Array.isArray(decoded) ? undefined : (decoded as CloudEventV1<unknown>);
  } catch {
    // A ValidationError, or any other error the SDK raises on input it cannot read.
    return undefined;
  }
}

function hasAttribute(req: FunctionRequest, name: string): boolean {
  const header = req.headers[`ce-${name}`];
  if (typeof header === 'string' && header !== '') return true;
  const body = req.body;
  if (typeof body !== 'object' || body === null || Buffer.isBuffer(body) || Array.isArray(body)) return false;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '';
}
