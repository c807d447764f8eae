import { cloudEvent, http } from '@google-cloud/functions-framework';
import type { CloudEventV1 } from 'cloudevents';
import type { ServerResponse } from 'node:http';
import type { Need } from '../config.js';
import { HttpProblems } from '../http/errors.js';
import { sendProblem } from '../http/respond.js';
import type { FunctionDefinition } from './definition.js';
import { instanceFromEnvironment, type FunctionInstance } from './function-instance.js';

/**
 * Registers the function with functions-framework under its inventory name, so the stock CLI
 * (`functions-framework --target=<name>`, as Knative Functions and Cloud Run functions builders
 * run it) serves it unchanged. HTTP functions register the same edge and handler our own server
 * runs; CloudEvent functions their event handler (functions-framework decodes the event). The
 * instance is built from the environment on the first call it gets, once per process: a process
 * that only imports the module (a test, our own server) builds nothing here.
 */
export function registerFunction<N extends Need>(definition: FunctionDefinition<N>, env: NodeJS.ProcessEnv = process.env): void {
  const instance = once(() => instanceFromEnvironment(definition, env));
  if (definition.kind === 'http') {
    http(definition.name, (req, res) => {
      instance().then(
        (built) => built.listener(req, res),
        (error: unknown) => unavailable(definition.name, res, error),
      );
    });
  } else {
    cloudEvent(definition.name, async (event: CloudEventV1<unknown>) => {
      const built = await instance();
      await (built.handleEvent as NonNullable<FunctionInstance['handleEvent']>)(event);
    });
  }
}

function once<T>(make: () => T): () => T {
  let made: { readonly value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

/** The function could not be built (its configuration, say): said on stderr, answered 503. */
function unavailable(name: string, res: ServerResponse, error: unknown): void {
  process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
  sendProblem(res, HttpProblems.functionUnavailable.example({ detail: `${name} cannot serve: see its log.` }));
}
