import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INGRESSES, type IngressName, networkPolicies, networkPolicyObject, renderNetworkPolicy } from './network-policies.js';
import { withoutNotes } from './yaml-text.js';

/** The policies' files as written; what they let through is test/manifests/network.test.ts's concern. */
describe.each(Object.keys(INGRESSES) as IngressName[])('the network policy files behind %s', (ingress) => {
  const policies = networkPolicies(ingress);

  it.each(policies.map((policy) => [policy.file, policy] as const))('%s reads back as its object, its summary on top', (_file, policy) => {
    const text = renderNetworkPolicy(policy);
    expect(parse(text)).toEqual(withoutNotes(networkPolicyObject(policy)));
    expect(text.split('\n')[1]).toBe(`# ${policy.summary}`);
  });

  it('says above each peer and each commented port what it is', () => {
    for (const policy of policies) {
      const lines = renderNetworkPolicy(policy).split('\n');
      const rules = [...(policy.ingress ?? []), ...(policy.egress ?? [])];
      const comments = [...rules.flatMap((rule) => rule.peers.map((peer) => peer.comment)), ...rules.flatMap((rule) => rule.ports.flatMap((port) => (port.comment ? [port.comment] : [])))];
      for (const comment of comments) {
        const at = lines.findIndex((line) => line.trim() === `# ${comment}`);
        expect(at, `${policy.file}: ${comment}`).toBeGreaterThan(-1);
        expect(lines[at + 1]!.trim(), `${policy.file}: what follows "${comment}"`).toMatch(/^- /);
      }
    }
  });

  it('isolates a direction with no rules by its policy type alone', () => {
    const deny = policies.find((policy) => policy.name === 'default-deny')!;
    expect(parse(renderNetworkPolicy(deny)).spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });
});
