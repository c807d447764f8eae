import { beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { parseConfig, type Need } from '../../functions/shared/config.js';
import { INGRESS_SETTINGS, checkTrustedProxyCidrs, ingressSettingCommands, renderClientAddresses } from '../../scripts/deploy/client-addresses.js';
import { CLIENT_ADDRESSES_CONFIGMAP, NAMESPACE, PART_OF } from '../../scripts/deploy/namespace.js';
import { INGRESSES, type IngressName } from '../../scripts/deploy/network-policies.js';
import { deployedIngress } from '../support/proxy-chain.js';
import { field, loadManifests, nameOf, named, parseDocuments, type KubeObject } from './manifest-support.js';
import { loadSchemaSet, validateObject, type SchemaSet } from './schema-validation.js';

/**
 * What makes the client addresses trustworthy in the cluster, as the manifests and `make deploy`
 * ship it: the ingress settings (patches of the ingress's own resources), and the ConfigMap of
 * TRUSTED_PROXY_CIDRS that every function counting per client reads. The header chains these give
 * are in functions/shared/client-address.test.ts.
 */

let schemas: SchemaSet;
let services: Map<string, KubeObject>;

beforeAll(async () => {
  schemas = await loadSchemaSet();
  services = new Map(named(await loadManifests('knative'), 'serving.knative.dev/v1', 'Service').map((service) => [nameOf(service), service]));
});

const ingresses = Object.keys(INGRESSES) as IngressName[];

/** A setting as the object it patches would hold it: what the API server validates after the merge. */
const patchedObject = (setting: (typeof INGRESS_SETTINGS)[IngressName][number]): KubeObject =>
  ({ apiVersion: setting.apiVersion, kind: setting.kind, metadata: { name: setting.name, namespace: setting.namespace }, ...setting.patch }) as KubeObject;

describe('the ingress settings make deploy patches', () => {
  it.each(ingresses)('for %s, validate against the schemas of the objects they patch', (ingress) => {
    expect(INGRESS_SETTINGS[ingress].length).toBeGreaterThan(0);
    for (const setting of INGRESS_SETTINGS[ingress]) expect(validateObject(schemas, patchedObject(setting)), `${setting.kind} ${setting.name}`).toEqual([]);
  });

  it('patch the gateway Service of each ingress to the Local traffic policy, the one the network policies let in', () => {
    const gateways: Record<IngressName, { namespace: string; name: string }> = {
      // net-kourier config/300-gateway.yaml, Istio's gateway chart, net-contour config/contour/external.yaml.
      kourier: { namespace: 'kourier-system', name: 'kourier' },
      istio: { namespace: 'istio-system', name: 'istio-ingressgateway' },
      contour: { namespace: 'contour-external', name: 'envoy' },
    };
    for (const ingress of ingresses) {
      const services = INGRESS_SETTINGS[ingress].filter((setting) => setting.kind === 'Service');
      expect(services.map(({ namespace, name, patch }) => ({ namespace, name, patch })), ingress).toEqual([{ ...gateways[ingress], patch: { spec: { externalTrafficPolicy: 'Local' } } }]);
      expect(INGRESSES[ingress].external.namespace, `${ingress}: the gateway pods the policies let in live beside its Service`).toBe(gateways[ingress].namespace);
    }
  });

  it("turn on Kourier's remote address, without which a client's own X-Forwarded-For reaches the functions", () => {
    expect(INGRESS_SETTINGS.kourier).toContainEqual(
      expect.objectContaining({ kind: 'ConfigMap', namespace: 'knative-serving', name: 'config-kourier', patch: { data: { 'use-remote-address': 'true' } } }),
    );
    expect(deployedIngress('kourier').envoy.useRemoteAddress).toBe(true);
    expect(deployedIngress('kourier', []).envoy.useRemoteAddress).toBe(false);
  });

  it('become kubectl patch commands carrying exactly those patches', () => {
    for (const ingress of ingresses) {
      const commands = ingressSettingCommands(ingress);
      expect(commands).toHaveLength(INGRESS_SETTINGS[ingress].length);
      commands.forEach((command, index) => {
        const setting = INGRESS_SETTINGS[ingress][index]!;
        expect(command.slice(0, 8)).toEqual(['kubectl', 'patch', `${setting.kind.toLowerCase()}/${setting.name}`, '--namespace', setting.namespace, '--type', 'merge', '--patch']);
        expect(JSON.parse(command[8]!)).toEqual(setting.patch);
      });
    }
  });

  it('bite: a ConfigMap value that is not a string is refused, as the API server refuses it', () => {
    const setting = { ...INGRESS_SETTINGS.kourier[0]!, patch: { data: { 'use-remote-address': true } } };
    expect(validateObject(schemas, patchedObject(setting)).map((problem) => problem.message).join('\n')).toMatch(/\/data\/use-remote-address must be string/);
  });
});

describe('TRUSTED_PROXY_CIDRS in the cluster', () => {
  const countsPerClient = INVENTORY.filter((spec) => (spec.needs as readonly Need[]).includes('clients')).map((spec) => spec.name);

  it('reaches every function that counts per client from the ConfigMap, and no other function', () => {
    expect(countsPerClient.sort()).toEqual(['auth-login', 'users-create', 'users-email-verification-request', 'users-password-reset-request', 'users-update']);
    for (const spec of INVENTORY) {
      const env = field(services.get(spec.name)!, 'spec', 'template', 'spec', 'containers', 0, 'env') as { name: string; valueFrom?: unknown }[];
      const entry = env.find((variable) => variable.name === 'TRUSTED_PROXY_CIDRS');
      if (countsPerClient.includes(spec.name)) {
        // Not optional: without the ConfigMap the pod does not start, rather than start trusting loopback alone.
        expect(entry, spec.name).toEqual({ name: 'TRUSTED_PROXY_CIDRS', valueFrom: { configMapKeyRef: { name: CLIENT_ADDRESSES_CONFIGMAP.name, key: CLIENT_ADDRESSES_CONFIGMAP.key } } });
      } else {
        expect(entry, spec.name).toBeUndefined();
      }
    }
  });

  it('is written by make deploy into a ConfigMap that validates, in the namespace, with the value the functions accept', () => {
    const { configMap, kustomization } = renderClientAddresses({ namespace: NAMESPACE, partOf: PART_OF }, ' 10.244.0.0/16, fd00:10:244::/56 ');
    const [document] = parseDocuments(configMap, 'configmap.yaml');
    expect(validateObject(schemas, document!.object)).toEqual([]);
    expect(document!.object).toMatchObject({ metadata: { name: 'accounts-client-addresses' }, data: { 'trusted-proxy-cidrs': '10.244.0.0/16,fd00:10:244::/56' } });
    expect(parseDocuments(kustomization, 'kustomization.yaml')[0]!.object).toMatchObject({ namespace: 'accounts', resources: ['configmap.yaml'] });
    const value = (document!.object['data'] as Record<string, string>)['trusted-proxy-cidrs']!;
    expect(parseConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', TRUSTED_PROXY_CIDRS: value }, ['clients']).TRUSTED_PROXY_CIDRS).toHaveLength(2);
  });

  it.each([
    ['missing', undefined, /TRUSTED_PROXY_CIDRS must name the networks of the proxies in front/],
    ['blank', '  ', /TRUSTED_PROXY_CIDRS must name the networks of the proxies in front/],
    ['not a CIDR', '10.244.0.0', /TRUSTED_PROXY_CIDRS must be comma-separated CIDRs; not one: 10\.244\.0\.0/],
    ['every address', '0.0.0.0/0', /TRUSTED_PROXY_CIDRS must name the proxies' networks, not every address: 0\.0\.0\.0\/0/],
  ])('is refused by make deploy when %s', (_case, value, message) => {
    expect(() => checkTrustedProxyCidrs(value)).toThrow(message);
  });
});
