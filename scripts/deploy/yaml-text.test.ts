import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { noted, withoutNotes, yamlText } from './yaml-text.js';

describe('yamlText', () => {
  const object = {
    kind: 'Example',
    metadata: { name: 'demo', labels: { enabled: noted('Read by the policies.', 'true'), skipped: undefined } },
    spec: { items: [noted('First of two lines.\nSecond line.', { port: 8080 }), { port: 53 }], flags: ['on', 'yes', '1:20', '0.1.0'] },
  };
  const text = yamlText(object, ['Generated: edit the generator.', 'What this is.']);

  it('reads back as the object without its notes, keys left undefined absent', () => {
    expect(parse(text)).toEqual(withoutNotes(object));
    expect(parse(text).metadata.labels).toEqual({ enabled: 'true' });
  });

  it('puts the header on top and each note, one comment line per line, right above its key or item', () => {
    const lines = text.split('\n');
    expect(lines.slice(0, 2)).toEqual(['# Generated: edit the generator.', '# What this is.']);
    const enabled = lines.findIndex((line) => line.trim() === 'enabled: "true"');
    expect(lines[enabled - 1]!.trim()).toBe('# Read by the policies.');
    const first = lines.findIndex((line) => line.trim() === '- port: 8080');
    expect(lines.slice(first - 2, first).map((line) => line.trim())).toEqual(['# First of two lines.', '# Second line.']);
  });

  it('quotes the strings YAML 1.1 (what Kubernetes reads) would take for booleans or numbers', () => {
    for (const value of ['on', 'yes', '1:20']) expect(text).toContain(`- "${value}"`);
    expect(text).toContain('- 0.1.0');
  });

  it('never folds a long line', () => {
    const long = 'x'.repeat(200);
    expect(yamlText({ value: long }, [long])).toBe(`# ${long}\nvalue: ${long}\n`);
  });
});
