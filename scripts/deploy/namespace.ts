import { BROKER } from '../../functions/contracts/events/catalogue.js';
import type { DatabaseLogin } from '../../migrations/logins.js';

/** What the namespace's objects share: its name, their labels, the Secrets and ConfigMaps they name. */

export const DEFAULT_IMAGE = 'ghcr.io/knative-accounts/functions';
export const NAMESPACE = 'accounts';
export const PART_OF = 'knative-accounts';
/** The ConfigMap every function that needs `clients` reads TRUSTED_PROXY_CIDRS from (scripts/deploy/client-addresses.ts writes it). */
export const CLIENT_ADDRESSES_CONFIGMAP = { name: 'accounts-client-addresses', key: 'trusted-proxy-cidrs' } as const;

/** Pod labels the network policies select on (the Services and the migration Job set them). */
export const POD_LABELS = {
  calledBy: 'accounts.knative.dev/called-by',
  databaseClient: 'accounts.knative.dev/database-client',
  publishesEvents: 'accounts.knative.dev/publishes-events',
  callsUsersVerify: 'accounts.knative.dev/calls-users-verify',
  sendsMail: 'accounts.knative.dev/sends-mail',
} as const;

/** The function the `signIn` need calls (its USERS_VERIFY_URL). */
export const USERS_VERIFY = 'users-verify';
/** The Broker (named in the event catalogue, as eventing/ names it) and the RabbitmqCluster behind it. */
export { BROKER };
export const RABBITMQ_CLUSTER = 'accounts-rabbitmq';

/** Where the RabbitMQ broker takes events: its ingress Service, `<broker>-broker-ingress` (eventing-rabbitmq's Broker status address). */
export function brokerIngressUrl(): string {
  return `http://${BROKER}-broker-ingress.${NAMESPACE}.svc.cluster.local`;
}

/** The Secret (keys `url`, `password`) of each database login: one per domain, and the users functions that check passwords. */
export function databaseSecretName(login: DatabaseLogin): string {
  return `accounts-db-${login}`;
}

/** A version made DNS-safe: 0.1.0 -> 0-1-0. */
export function versionSlug(version: string): string {
  return version.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
}

/** Every container's: no root, no writes to its image, no privileges. */
export const CONTAINER_SECURITY_CONTEXT = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
} as const;
