import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_CATALOGUE, type EventEntry } from '../../functions/contracts/events/catalogue.js';
import { INVENTORY } from '../../functions/inventory.js';
import { configVariableNames } from '../../functions/shared/config.js';
import { runnerVariableNames } from '../../runner/runner-config.js';
import { DIAGRAM_END, renderArchitectureDiagram, withArchitectureDiagram } from '../../scripts/codegen/architecture-diagram.js';
import { withFunctionTable } from '../../scripts/codegen/function-table.js';
import { ROOT } from '../support/runner-process.js';
import { extractShellBlocks } from '../support/shell-blocks.js';

const readme = () => readFile(join(ROOT, 'README.md'), 'utf8');

/** README.md and every guide of docs/, by path from the project's root. */
async function documents(): Promise<Map<string, string>> {
  const guides = (await readdir(join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  return new Map(await Promise.all(['README.md', ...guides].map(async (file) => [file, await readFile(join(ROOT, file), 'utf8')] as const)));
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

describe('README', () => {
  it('reads in ten minutes: at most 300 lines', async () => {
    expect((await readme()).split('\n').length).toBeLessThanOrEqual(300);
  });

  it('has the function table of the inventory (run `npm run readme` when it differs)', async () => {
    const text = await readme();
    expect(text, 'the function table differs from the inventory: run `npm run readme`').toBe(withFunctionTable(text));
    for (const spec of INVENTORY) expect(text).toContain(`| ${spec.name} | `);
  });

  it('has the architecture diagram of the inventory and the event catalogue (run `npm run readme` when it differs)', async () => {
    const text = await readme();
    expect(text, 'the architecture diagram differs from the inventory or the catalogue: run `npm run readme`').toBe(withArchitectureDiagram(text));
  });

  it("draws every function, every Trigger and every event's producers", () => {
    const diagram = renderArchitectureDiagram();
    for (const spec of INVENTORY) expect(diagram).toContain(`[${spec.name}]`);
    for (const entry of EVENT_CATALOGUE) {
      for (const consumer of entry.consumers) expect(diagram).toContain(`|Trigger ${consumer.trigger}<br/>type = ${entry.type}| ${consumer.function.replace(/-/g, '_')}`);
      for (const producer of entry.producers) expect(diagram).toMatch(new RegExp(`${producer.replace(/-/g, '_')} -->\\|[^|]*${entry.type}`));
    }
  });

  it('catches a diagram that no longer matches: a new event type changes it', async () => {
    const text = await readme();
    const hello: EventEntry = {
      ...EVENT_CATALOGUE[0],
      type: 'hello_event',
      producers: ['users-get'],
      consumers: [{ function: 'notify-dead-letter', trigger: 'hello-notice', does: 'says hello back' }],
    };
    const changed = renderArchitectureDiagram(INVENTORY, [...EVENT_CATALOGUE, hello]);
    expect(changed).toContain('|Trigger hello-notice<br/>type = hello_event| notify_dead_letter');
    expect(withArchitectureDiagram(text, changed)).not.toBe(text);
    expect(() => withArchitectureDiagram(text.replace(DIAGRAM_END, ''))).toThrow(/no architecture diagram/);
  });
});

describe('the guides', () => {
  it('document every configuration variable a function or the runner reads (docs/configuration.md)', async () => {
    const guide = await readFile(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    for (const name of [...configVariableNames(), ...runnerVariableNames()]) expect(guide).toContain(`\`${name}\``);
  });

  it('name only Triggers, types and subscribers the event catalogue has (docs/events.md)', async () => {
    const guide = await readFile(join(ROOT, 'docs', 'events.md'), 'utf8');
    const triggers = EVENT_CATALOGUE.flatMap((entry) => entry.consumers.map((consumer) => consumer.trigger));
    // Trigger names, not the notify-… functions they feed.
    const named = [...guide.matchAll(/`([a-z-]+-(?:notification|email|notice))`/g)].map((match) => match[1] as string).filter((name) => !name.startsWith('notify-'));
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) expect(triggers, `docs/events.md names a Trigger ${name}`).toContain(name);
    const example = /For example `([\w-]+)`: `type: (\w+)`, subscriber\s+`([\w-]+)`/.exec(guide);
    const entry = EVENT_CATALOGUE.find((candidate) => candidate.type === example?.[2]);
    expect(entry?.consumers.map((consumer) => [consumer.trigger, consumer.function])).toContainEqual([example?.[1], example?.[3]]);
  });

  it('link only to files and headings that exist', async () => {
    const docs = await documents();
    const broken: string[] = [];
    for (const [file, text] of docs) {
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target as string)) continue;
        const [path, anchor] = (target as string).split('#') as [string, string | undefined];
        const linked = path === '' ? file : join(dirname(file), path);
        const exists = await stat(join(ROOT, linked)).then(() => true, () => false);
        if (!exists) broken.push(`${file}: ${target}`);
        else if (anchor !== undefined && linked.endsWith('.md')) {
          const headings = [...(docs.get(linked) ?? (await readFile(join(ROOT, linked), 'utf8'))).matchAll(/^#{1,6} (.+)$/gm)].map((match) => anchorOf(match[1] as string));
          if (!headings.includes(anchor)) broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('tag every shell block with what the docs test does with it', async () => {
    const problems: string[] = [];
    for (const [file, text] of await documents()) {
      for (const block of extractShellBlocks(text, file)) if (block.problem) problems.push(`${block.where}: ${block.problem}`);
    }
    expect(problems).toEqual([]);
  });
});
