import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findDestructiveStatements } from '../test/support/destructive-statements.js';
import { MIGRATIONS } from './index.js';

const FOLDER = fileURLToPath(new URL('.', import.meta.url));
const MIGRATION_FILE = /^\d{4}-\d{2}-\d{2}-\d{3}-[a-z0-9-]+\.ts$/;

const sourceOf = (name: string): string => readFileSync(`${FOLDER}${name}.ts`, 'utf8');

describe('the migration list', () => {
  it('names every migration file in this folder once, in name order, by its file name', () => {
    const files = readdirSync(FOLDER).filter((file) => MIGRATION_FILE.test(file)).map((file) => file.replace(/\.ts$/, ''));
    const names = MIGRATIONS.map((entry) => entry.name);
    expect(names).toEqual([...files].sort());
    expect(new Set(names).size).toBe(names.length);
  });

  it('keeps the names databases already record', () => {
    expect(MIGRATIONS.slice(0, 2).map(({ name, phase }) => [name, phase])).toEqual([
      ['2026-11-26-001-users', 'expand'],
      ['2026-11-26-002-auth-and-notify', 'expand'],
    ]);
  });
});

describe('expand migrations', () => {
  // While a canary runs, the older revision still uses the old shape: expand migrations only add.
  it.each(MIGRATIONS.filter((entry) => entry.phase === 'expand').map((entry) => [entry.name]))(
    '%s has no destructive statement in up()',
    (name) => {
      const findings = findDestructiveStatements(sourceOf(name), `${name}.ts`);
      expect(findings.map((finding) => `${name}.ts:${finding.line} ${finding.kind}: ${finding.statement}`)).toEqual([]);
    },
  );
});
