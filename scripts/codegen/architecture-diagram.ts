import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROKER, EVENT_CATALOGUE, OUTBOX_RELAY, type EventEntry } from '../../functions/contracts/events/catalogue.js';
import { INVENTORY, type FunctionSpec } from '../../functions/inventory.js';

/**
 * The README's architecture diagram (Mermaid), written from the inventory and the event catalogue
 * between its two markers by `npm run readme`: who calls which function, which events travel
 * through the Broker to which Trigger, and which schema each domain's functions use. A test fails
 * when the README's diagram and these two sources disagree.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const README_FILE = join(ROOT, 'README.md');
export const DIAGRAM_START = '<!-- architecture diagram: generated from functions/inventory.ts and the event catalogue by `npm run readme` -->';
export const DIAGRAM_END = '<!-- end of architecture diagram -->';

/** A Mermaid node id: letters, digits and underscores only. */
function nodeId(name: string): string {
  return name.replace(/[^A-Za-z0-9]/g, '_');
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function domainGroups(inventory: readonly FunctionSpec[]): string[] {
  return unique(inventory.map((spec) => spec.domain)).flatMap((domain) => [
    `  subgraph domain_${nodeId(domain)} [${domain}]`,
    ...inventory.filter((spec) => spec.domain === domain).map((spec) => `    ${nodeId(spec.name)}[${spec.name}]`),
    '  end',
  ]);
}

function callerEdges(inventory: readonly FunctionSpec[]): string[] {
  const publicHttp = inventory.filter((spec) => spec.trigger === 'http' && spec.visibility === 'public');
  const serviceCalls = inventory.flatMap((spec) =>
    spec.callers.kind === 'service' ? spec.callers.callers.map((caller) => `  ${nodeId(caller)} -->|service token, cluster-local| ${nodeId(spec.name)}`) : [],
  );
  const pings = inventory
    .filter((spec) => spec.callers.kind === 'ping-source')
    .map((spec) => `  ping_${nodeId(spec.name)}([${spec.eventSource ?? 'PingSource'}]) --> ${nodeId(spec.name)}`);
  return [
    '  client([client / browser]) -->|HTTP| gateway[gateway / Knative ingress]',
    ...publicHttp.map((spec) => `  gateway --> ${nodeId(spec.name)}`),
    ...serviceCalls,
    ...pings,
  ];
}

function eventEdges(catalogue: readonly EventEntry[]): string[] {
  if (catalogue.length === 0) return [];
  const broker = `broker{{Broker ${BROKER}<br/>RabbitMQBroker}}`;
  const producers = unique(catalogue.flatMap((entry) => entry.producers));
  const typesOf = (producer: string): string =>
    catalogue
      .filter((entry) => entry.producers.includes(producer))
      .map((entry) => entry.type)
      .join('<br/>');
  const deadLetterSinks = unique(catalogue.map((entry) => entry.delivery.deadLetterSink));
  return [
    ...producers.map((producer, index) => `  ${nodeId(producer)} -->|${typesOf(producer)}| ${index === 0 ? broker : 'broker'}`),
    `  ${nodeId(OUTBOX_RELAY)} -->|pending events of every type| broker`,
    ...catalogue.flatMap((entry) =>
      entry.consumers.map((consumer) => `  broker -->|Trigger ${consumer.trigger}<br/>type = ${entry.type}| ${nodeId(consumer.function)}`),
    ),
    ...deadLetterSinks.map((sink) => `  broker -.->|after the last retry| ${nodeId(sink)}`),
  ];
}

function storeEdges(inventory: readonly FunctionSpec[]): string[] {
  const domainsWithDatabase = unique(inventory.filter((spec) => spec.needs.includes('database')).map((spec) => spec.domain));
  const mailers = inventory.filter((spec) => spec.needs.includes('mail'));
  return [
    '  subgraph postgres [Postgres]',
    ...domainsWithDatabase.map((domain) => `    schema_${nodeId(domain)}[(schema ${domain})]`),
    '  end',
    ...domainsWithDatabase.map((domain) => `  domain_${nodeId(domain)} --> schema_${nodeId(domain)}`),
    ...(mailers.length > 0 ? ['  mail[(mail server /<br/>mail catcher)]'] : []),
    ...mailers.map((spec) => `  ${nodeId(spec.name)} -->|SMTP| mail`),
  ];
}

/** The diagram, markers and code fence included. */
export function renderArchitectureDiagram(inventory: readonly FunctionSpec[] = INVENTORY, catalogue: readonly EventEntry[] = EVENT_CATALOGUE): string {
  return [
    DIAGRAM_START,
    '```mermaid',
    'flowchart LR',
    // Nodes inside their subgraphs first, so that the edges below place none outside its domain.
    ...domainGroups(inventory),
    ...callerEdges(inventory),
    ...eventEdges(catalogue),
    ...storeEdges(inventory),
    '```',
    DIAGRAM_END,
  ].join('\n');
}

/** The README with its diagram replaced by the one of `diagram` (the inventory's, by default). */
export function withArchitectureDiagram(readme: string, diagram = renderArchitectureDiagram()): string {
  const start = readme.indexOf(DIAGRAM_START);
  const end = readme.indexOf(DIAGRAM_END);
  if (start === -1 || end < start) throw new Error(`README.md has no architecture diagram between "${DIAGRAM_START}" and "${DIAGRAM_END}"`);
  return `${readme.slice(0, start)}${diagram}${readme.slice(end + DIAGRAM_END.length)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(README_FILE, withArchitectureDiagram(await readFile(README_FILE, 'utf8')));
  process.stdout.write(`wrote the architecture diagram of ${README_FILE}\n`);
}
