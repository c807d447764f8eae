import { INVENTORY, type FunctionSpec } from '../../functions/inventory.js';
import { PART_OF } from './namespace.js';
import { noted, yamlText } from './yaml-text.js';

/**
 * PodDisruptionBudgets (policy/v1) for the functions that keep warm instances (min-scale ≥ 1): a
 * node drain (an upgrade, the cluster autoscaler) evicts their pods one at a time, so sign-in keeps
 * a warm pod while the other one moves. A function that scales to zero gets none: the activator
 * holds its requests while a new pod starts anyway. Knative creates no budget for a revision's pods.
 */

export const DISRUPTION_BUDGETS_FILE = 'disruption-budgets.yaml';

/** The functions that get a budget. */
export function budgetedFunctions(inventory: readonly FunctionSpec[] = INVENTORY): FunctionSpec[] {
  return inventory.filter((spec) => spec.minScale >= 1);
}

function budgetObject(spec: FunctionSpec) {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: spec.name, labels: { 'app.kubernetes.io/name': spec.name, 'app.kubernetes.io/part-of': PART_OF } },
    spec: {
      // The label every revision's pods carry (the template's, not the Service's): a canary's pods count too.
      selector: { matchLabels: { 'app.kubernetes.io/name': spec.name } },
      maxUnavailable: noted(`One pod at a time: ${spec.name} keeps ${spec.minScale} warm.`, 1),
      unhealthyPodEvictionPolicy: noted('A pod that is not ready serves nothing: evicting it never waits on the budget.', 'AlwaysAllow'),
    },
  };
}

/** The file's text: one document per budgeted function. */
export function renderDisruptionBudgets(inventory: readonly FunctionSpec[] = INVENTORY): string {
  const header = ['Generated from functions/inventory.ts by `npm run manifests` (scripts/deploy/disruption-budgets.ts).'];
  return budgetedFunctions(inventory)
    .map((spec, index) => yamlText(budgetObject(spec), index === 0 ? header : []))
    .join('---\n');
}
