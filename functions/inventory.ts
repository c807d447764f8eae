/**
 * The function inventory: the single source of truth for what functions exist and how each one is
 * served. The local runner, the gateway, the Knative manifests and the docs read this list.
 */

import type { Need } from './shared/config.js';

export type Trigger = 'http' | 'cloudevent';
export type Visibility = 'public' | 'cluster-local';
export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';
export type Domain = 'users' | 'auth' | 'notify';

export interface FunctionSpec {
  /** Knative Service name, functions-framework target and folder name. */
  readonly name: string;
  readonly domain: Domain;
  readonly trigger: Trigger;
  readonly method: HttpMethod;
  /** REST path the function owns; `{param}` marks a path parameter. */
  readonly path: string;
  readonly visibility: Visibility;
  /** Configuration sections (and so shared dependencies and secrets) the function needs. */
  readonly needs: readonly Need[];
  readonly summary: string;
  /** Knative autoscaling: concurrent requests per instance the autoscaler aims for. */
  readonly autoscalingTarget: number;
  /** Hard limit of concurrent requests per instance (0 = unlimited). */
  readonly containerConcurrency: number;
  /** Instances kept warm; 0 lets the service scale to zero. */
  readonly minScale: number;
  readonly maxScale: number;
  /** Why these scaling numbers: one line, written next to the annotations in the manifest. */
  readonly scalingNote: string;
  /** Longest a request may take before Knative answers 504. */
  readonly timeoutSeconds: number;
}

export const INVENTORY = [
  {
    name: 'users-create',
    needs: ['database', 'passwords'],
    domain: 'users',
    trigger: 'http',
    method: 'POST',
    path: '/users',
    visibility: 'public',
    summary: 'Register a user account',
    autoscalingTarget: 4, // bcrypt hashing is CPU-bound
    containerConcurrency: 8,
    minScale: 0,
    maxScale: 10,
    scalingNote: 'CPU-bound: every request runs a bcrypt hash, so few requests per instance and scale out early',
    timeoutSeconds: 30,
  },
  {
    name: 'users-get',
    needs: ['database', 'tokens'],
    domain: 'users',
    trigger: 'http',
    method: 'GET',
    path: '/users/{id}',
    visibility: 'public',
    summary: 'Read one user (self or admin)',
    autoscalingTarget: 80,
    containerConcurrency: 0,
    minScale: 0,
    maxScale: 10,
    scalingNote: 'a read by id: cheap and I/O-bound, so many requests per instance',
    timeoutSeconds: 30,
  },
  {
    name: 'users-list',
    needs: ['database', 'tokens'],
    domain: 'users',
    trigger: 'http',
    method: 'GET',
    path: '/users',
    visibility: 'public',
    summary: 'List and search users (admin)',
    autoscalingTarget: 50,
    containerConcurrency: 0,
    minScale: 0,
    maxScale: 10,
    scalingNote: 'a paged read: I/O-bound, many requests per instance',
    timeoutSeconds: 30,
  },
  {
    name: 'users-update',
    needs: ['database', 'passwords', 'tokens'],
    domain: 'users',
    trigger: 'http',
    method: 'PATCH',
    path: '/users/{id}',
    visibility: 'public',
    summary: 'Change a user (self or admin, If-Match)',
    autoscalingTarget: 20,
    containerConcurrency: 0,
    minScale: 0,
    maxScale: 10,
    scalingNote: 'mostly cheap writes, a bcrypt hash only when the password changes',
    timeoutSeconds: 30,
  },
  {
    name: 'users-delete',
    needs: ['database', 'tokens'],
    domain: 'users',
    trigger: 'http',
    method: 'DELETE',
    path: '/users/{id}',
    visibility: 'public',
    summary: 'Delete a user (self or admin)',
    autoscalingTarget: 50,
    containerConcurrency: 0,
    minScale: 0,
    maxScale: 5,
    scalingNote: 'a cheap write: I/O-bound, many requests per instance',
    timeoutSeconds: 30,
  },
  {
    name: 'users-verify',
    needs: ['database', 'passwords'],
    domain: 'users',
    trigger: 'http',
    method: 'POST',
    path: '/users/verify',
    visibility: 'cluster-local',
    summary: 'Check an email and password (internal, for sign-in)',
    autoscalingTarget: 4, // bcrypt compare is CPU-bound
    containerConcurrency: 8,
    minScale: 0,
    maxScale: 10,
    scalingNote: 'CPU-bound: every request runs a bcrypt compare, so few requests per instance',
    timeoutSeconds: 30,
  },
  {
    name: 'auth-login',
    needs: ['database', 'signing', 'sink', 'signIn'],
    domain: 'auth',
    trigger: 'http',
    method: 'POST',
    path: '/auth/login',
    visibility: 'public',
    summary: 'Sign in: email and password for an access token; emits user_login_event',
    autoscalingTarget: 10, // waits on users-verify's bcrypt compare
    containerConcurrency: 0,
    minScale: 1, // sign-in is the front door: no cold start
    maxScale: 10,
    scalingNote: 'waits on users-verify\'s bcrypt; one warm instance so sign-in never pays a cold start',
    timeoutSeconds: 30,
  },
  {
    name: 'auth-jwks',
    needs: ['tokens'],
    domain: 'auth',
    trigger: 'http',
    method: 'GET',
    path: '/auth/jwks',
    visibility: 'public',
    summary: 'Public keys that verify access tokens (JWKS)',
    autoscalingTarget: 100,
    containerConcurrency: 0,
    minScale: 0,
    maxScale: 5,
    scalingNote: 'a constant document served from memory: very many requests per instance',
    timeoutSeconds: 30,
  },
  {
    name: 'outbox-relay',
    needs: ['database', 'sink'],
    domain: 'auth',
    trigger: 'cloudevent',
    method: 'POST',
    path: '/',
    visibility: 'cluster-local',
    summary: 'Publishes pending outbox events (started by a PingSource)',
    autoscalingTarget: 1,
    containerConcurrency: 1, // one relay run per instance; row locks keep parallel runs apart
    minScale: 0,
    maxScale: 2,
    scalingNote: 'one relay run at a time per instance; row locks keep parallel runs apart',
    timeoutSeconds: 60,
  },
  {
    name: 'notify-login-email',
    needs: ['database', 'mail'],
    domain: 'notify',
    trigger: 'cloudevent',
    method: 'POST',
    path: '/',
    visibility: 'cluster-local',
    summary: 'Emails the user about a new sign-in (Trigger on user_login_event)',
    autoscalingTarget: 20,
    containerConcurrency: 0,
    minScale: 0,
    maxScale: 5,
    scalingNote: 'waits on the mail server: I/O-bound, the Trigger\'s parallelism bounds the load',
    timeoutSeconds: 60,
  },
  {
    name: 'notify-dead-letter',
    needs: ['database'],
    domain: 'notify',
    trigger: 'cloudevent',
    method: 'POST',
    path: '/',
    visibility: 'cluster-local',
    summary: 'Keeps events whose delivery failed for good (the Triggers\' dead-letter sink)',
    autoscalingTarget: 20,
    containerConcurrency: 0,
    minScale: 0,
    maxScale: 2,
    scalingNote: 'rare events, one insert each',
    timeoutSeconds: 30,
  },
] as const satisfies readonly FunctionSpec[];

export type FunctionName = (typeof INVENTORY)[number]['name'];

/** The configuration sections a function names in the inventory. */
export type NeedsOf<Name extends FunctionName> = Extract<(typeof INVENTORY)[number], { name: Name }>['needs'][number];

export function specOf<Name extends FunctionName>(name: Name): Extract<(typeof INVENTORY)[number], { name: Name }> {
  return INVENTORY.find((spec) => spec.name === name) as Extract<(typeof INVENTORY)[number], { name: Name }>;
}

export function findFunction(name: string): FunctionSpec | undefined {
  return INVENTORY.find((spec) => spec.name === name);
}
