import { describe, expect, it } from 'vitest';
import { findDestructiveStatements, type DestructiveKind } from './destructive-statements.js';

/** A migration module whose `up` runs `statement`, and whose `down` drops freely (it does not count). */
function migrationRunning(statement: string): string {
  return [
    "import { sql, type Kysely } from 'kysely';",
    '',
    'export async function up(db: Kysely<unknown>): Promise<void> {',
    `  await sql\`${statement}\`.execute(db);`,
    '}',
    '',
    'export async function down(db: Kysely<unknown>): Promise<void> {',
    '  await sql`drop table t`.execute(db);',
    '  await db.schema.dropTable("t").execute();',
    '}',
  ].join('\n');
}

/** A migration module whose `up` has `body` as its body. */
function migrationWithUp(body: string): string {
  return `import { sql, type Kysely } from 'kysely';\nexport async function up(db: Kysely<unknown>): Promise<void> {\n${body}\n}\n`;
}

const kinds = (source: string): DestructiveKind[] => findDestructiveStatements(source).map((finding) => finding.kind);

describe('findDestructiveStatements', () => {
  it.each<[string, DestructiveKind]>([
    ['drop table users.old_users', 'drop'],
    ['drop table if exists users.old_users', 'drop'],
    ['alter table users.users drop column legacy', 'drop'],
    ['alter table users.users drop legacy', 'drop'],
    ['drop schema legacy cascade', 'drop'],
    ['drop index users_name_prefix_idx', 'drop'],
    ['drop index concurrently if exists users.users_name_prefix_idx', 'drop'],
    ['alter table users.users drop constraint users_role_check', 'drop'],
    ['drop type mood', 'drop'],
    ['drop role accounts_legacy', 'drop'],
    ['drop owned by accounts_legacy', 'drop'],
    ['drop view users.active_users', 'drop'],
    ['drop sequence auth.old_seq', 'drop'],
    ['drop function users.f()', 'drop'],
    ['alter table users.users alter column role drop default', 'drop'],
    ['ALTER TABLE users.users\n    DROP COLUMN legacy', 'drop'],
    ['alter table users.users rename to people', 'rename'],
    ['alter table users.users rename column surname to family_name', 'rename'],
    ['alter schema users rename to people', 'rename'],
    ['alter index users_email_key rename to users_email_unique', 'rename'],
    ['alter role accounts_users rename to accounts_people', 'rename'],
    ['alter table users.users alter column version type bigint', 'alter-column-type'],
    ['alter table users.users alter version type bigint using version::bigint', 'alter-column-type'],
    ['alter table users.users alter column version set data type bigint', 'alter-column-type'],
    ['alter table users.users alter column "version" type bigint', 'alter-column-type'],
    ['alter table auth.outbox alter column last_error set not null', 'set-not-null'],
    ['alter table users.users add column phone text not null', 'add-not-null-column-without-default'],
    ['alter table users.users add phone text not null', 'add-not-null-column-without-default'],
    ['alter table users.users add column if not exists phone text not null', 'add-not-null-column-without-default'],
    ['alter table only users.users add column phone text not null references users.phones (id)', 'add-not-null-column-without-default'],
    ['alter table users.users add column nickname text, add column phone text not null', 'add-not-null-column-without-default'],
    ['alter table users.users add column code uuid primary key', 'add-not-null-column-without-default'],
    ['revoke select on users.users from accounts_users', 'revoke'],
    ['revoke all on function public.existing(uuid) from public', 'revoke'],
    ["create function public.f() returns int language sql as 'select 1'; revoke all on function public.f() from accounts_users", 'revoke'],
    ['alter default privileges in schema users revoke delete on tables from accounts_users', 'revoke'],
    ['truncate users.users', 'truncate'],
    ['do $$ begin execute format(\'drop table %I\', \'users.users\'); end $$', 'drop'],
    ['create table users.t (id int); alter table users.t drop column id', 'drop'],
  ])('catches %j as %s', (statement, kind) => {
    expect(kinds(migrationRunning(statement))).toContain(kind);
  });

  it.each<[string, DestructiveKind, string]>([
    ['dropTable', 'drop', "await db.schema.dropTable('users.old_users').execute();"],
    ['dropSchema', 'drop', "await db.schema.dropSchema('legacy').ifExists().cascade().execute();"],
    ['dropIndex', 'drop', "await db.schema.dropIndex('users_name_prefix_idx').execute();"],
    ['dropType', 'drop', "await db.schema.dropType('mood').execute();"],
    ['dropColumn', 'drop', "await db.schema.alterTable('users.users').dropColumn('legacy').execute();"],
    ['dropConstraint', 'drop', "await db.schema.alterTable('users.users').dropConstraint('users_role_check').execute();"],
    ['dropDefault', 'drop', "await db.schema.alterTable('users.users').alterColumn('role', (col) => col.dropDefault()).execute();"],
    ['renameTo', 'rename', "await db.schema.alterTable('users.users').renameTo('people').execute();"],
    ['renameColumn', 'rename', "await db.schema.alterTable('users.users').renameColumn('surname', 'family_name').execute();"],
    ['setDataType', 'alter-column-type', "await db.schema.alterTable('users.users').alterColumn('version', (col) => col.setDataType('bigint')).execute();"],
    ['setNotNull', 'set-not-null', "await db.schema.alterTable('auth.outbox').alterColumn('last_error', (col) => col.setNotNull()).execute();"],
    ['addColumn notNull', 'add-not-null-column-without-default', "await db.schema.alterTable('users.users').addColumn('phone', 'text', (col) => col.notNull()).execute();"],
    ['sql.raw', 'drop', "await sql.raw('drop table users.old_users').execute(db);"],
    ['a nested helper', 'drop', "const drop = async (name: string) => sql`drop table ${sql.table(name)}`.execute(db);\n  await drop('users.old_users');"],
    ['an interpolated statement', 'alter-column-type', "await sql`alter table users.users alter column ${sql.ref('version')} type bigint`.execute(db);"],
  ])('catches the kysely call or code shape %s', (_name, kind, body) => {
    expect(kinds(migrationWithUp(body))).toContain(kind);
  });

  it.each([
    ['create table', 'create table users.phones (id uuid primary key default gen_random_uuid(), number text not null, verified boolean not null)'],
    ['create schema', 'create schema if not exists billing'],
    ['add a nullable column', 'alter table users.users add column phone text'],
    ['add a column with a default', "alter table users.users add column locale text not null default 'en'"],
    ['add a column with a default, not null last', "alter table users.users add column locale text default 'en' not null"],
    ['add an identity column', 'alter table users.users add column seq bigint not null generated always as identity'],
    ['add a generated column', 'alter table users.users add column email_key text not null generated always as (lower(email)) stored'],
    ['create index', 'create index users_phone_idx on users.users (phone)'],
    ['create index concurrently', 'create index concurrently if not exists users_phone_idx on users.users (phone)'],
    ['create unique index', 'create unique index users_email_key on users.users (lower(email))'],
    ['grant', 'grant select, insert, update, delete on all tables in schema users to accounts_users'],
    ['grant usage', 'grant usage on schema users to accounts_users'],
    ['default privileges', 'alter default privileges in schema users grant select on tables to accounts_users'],
    ['loosen not null', 'alter table auth.outbox alter column last_error drop not null'],
    ['set a default', "alter table users.users alter column role set default 'user'"],
    ['create a role', "do $$ begin if not exists (select from pg_roles where rolname = 'r') then create role r nologin; end if; end $$"],
    ['words inside identifiers', 'create table users.audit (dropped_at timestamptz, renamed boolean, truncated boolean, revoked_by text)'],
    ['a SQL comment', 'create table users.t (id int) -- drop it in a later contract migration'],
    ['a block comment', '/* rename later */ create table users.t (id int)'],
    ['a new function kept from PUBLIC', "create or replace function public.f(x uuid) returns int language sql as 'select 1'; revoke all on function public.f(uuid) from public"],
    ['insert', "insert into users.settings (key, value) values ('theme', 'dark')"],
    ['backfill', 'update users.users set locale = \'en\' where locale is null'],
    ['add constraint not valid', 'alter table users.users add column locale text, add constraint locale_len check (length(locale) < 10) not valid'],
  ])('lets %s pass', (_name, statement) => {
    expect(findDestructiveStatements(migrationRunning(statement))).toEqual([]);
  });

  it.each([
    ['createTable with not-null columns', "await db.schema.createTable('users.phones').addColumn('id', 'uuid', (col) => col.primaryKey()).addColumn('number', 'text', (col) => col.notNull()).execute();"],
    ['addColumn nullable', "await db.schema.alterTable('users.users').addColumn('phone', 'text').execute();"],
    ['addColumn with a default', "await db.schema.alterTable('users.users').addColumn('locale', 'text', (col) => col.notNull().defaultTo('en')).execute();"],
    ['createIndex', "await db.schema.createIndex('users_phone_idx').on('users.users').column('phone').execute();"],
    ['dropNotNull', "await db.schema.alterTable('auth.outbox').alterColumn('last_error', (col) => col.dropNotNull()).execute();"],
    ['a comment naming a drop', '// drop users.legacy in a contract migration once every revision reads users.people\n  /* rename too */\n  await sql`create table users.people (id uuid)`.execute(db);'],
  ])('lets the code shape %s pass', (_name, body) => {
    expect(findDestructiveStatements(migrationWithUp(body))).toEqual([]);
  });

  it('reads only the up function: down, other functions and top-level code do not count', () => {
    const source = [
      "import { sql, type Kysely } from 'kysely';",
      "const LATER = 'drop table users.legacy';",
      'async function cleanUp(db: Kysely<unknown>) { await sql`drop schema legacy cascade`.execute(db); }',
      'export async function up(db: Kysely<unknown>): Promise<void> {',
      '  await sql`create table users.people (id uuid primary key)`.execute(db);',
      '}',
      'export async function down(db: Kysely<unknown>): Promise<void> {',
      '  await sql`drop table users.people`.execute(db);',
      '  await cleanUp(db);',
      '  void LATER;',
      '}',
    ].join('\n');
    expect(findDestructiveStatements(source)).toEqual([]);
  });

  it('reads an up written as an arrow function too', () => {
    const source = "import { sql } from 'kysely';\nexport const up = async (db) => {\n  await sql`alter table users.users rename to people`.execute(db);\n};\n";
    expect(kinds(source)).toEqual(['rename']);
  });

  it('names the line and the statement at fault', () => {
    const source = migrationWithUp(
      ['  await sql`create table users.t (id int)`.execute(db);', '  await sql`', '    create index t_idx on users.t (id);', '    alter table users.t drop column id', '  `.execute(db);'].join('\n'),
    );
    expect(findDestructiveStatements(source)).toEqual([{ kind: 'drop', line: 6, statement: 'alter table users.t drop column id' }]);
  });

  it('refuses a module without an up function', () => {
    expect(() => findDestructiveStatements('export async function down() {}', 'x.ts')).toThrow(/x\.ts: no up\(\) function/);
  });
});
