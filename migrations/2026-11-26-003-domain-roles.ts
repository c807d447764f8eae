import { sql, type Kysely } from 'kysely';

// One NOLOGIN group role per domain schema, with only what that domain's functions do: read and
// write rows (and draw identity values) in their own schema. No role gets anything on another
// domain's schema or on the migration ledgers in `public`. The LOGIN roles the functions connect
// as are members of these (`npm run migrate -- provision-logins`).
//
// Roles are cluster-wide while grants belong to this database: a role may already exist (another
// database on the cluster, an earlier run, a migration running at the same moment elsewhere), so
// it is created only when missing, and a concurrent creation is taken as done.

const DOMAIN_SCHEMAS = [
  ['users', 'accounts_users'],
  ['auth', 'accounts_auth'],
  ['notify', 'accounts_notify'],
] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    do $$
    declare
      role_name text;
    begin
      foreach role_name in array array['accounts_users', 'accounts_auth', 'accounts_notify'] loop
        if not exists (select from pg_catalog.pg_roles where rolname = role_name) then
          begin
            execute format('create role %I nologin', role_name);
          exception when duplicate_object or unique_violation then
            null; -- created meanwhile by a migration of another database on this cluster
          end;
        end if;
      end loop;
    end
    $$`.execute(db);

  // Identity columns (auth.login_failures, notify.dead_letters) draw from sequences: usage on them too.
  for (const [schema, role] of DOMAIN_SCHEMAS) {
    await sql`grant usage on schema ${sql.id(schema)} to ${sql.id(role)}`.execute(db);
    await sql`grant select, insert, update, delete on all tables in schema ${sql.id(schema)} to ${sql.id(role)}`.execute(db);
    await sql`grant usage on all sequences in schema ${sql.id(schema)} to ${sql.id(role)}`.execute(db);
    await sql`alter default privileges in schema ${sql.id(schema)} grant select, insert, update, delete on tables to ${sql.id(role)}`.execute(db);
    await sql`alter default privileges in schema ${sql.id(schema)} grant usage on sequences to ${sql.id(role)}`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [schema, role] of DOMAIN_SCHEMAS) {
    await sql`alter default privileges in schema ${sql.id(schema)} revoke all on tables from ${sql.id(role)}`.execute(db);
    await sql`alter default privileges in schema ${sql.id(schema)} revoke all on sequences from ${sql.id(role)}`.execute(db);
    await sql`revoke all on all tables in schema ${sql.id(schema)} from ${sql.id(role)}`.execute(db);
    await sql`revoke all on all sequences in schema ${sql.id(schema)} from ${sql.id(role)}`.execute(db);
    await sql`revoke all on schema ${sql.id(schema)} from ${sql.id(role)}`.execute(db);
  }
  // A role still granted rights in another database of the cluster cannot be dropped from here:
  // it stays (with nothing left in this database) until that database lets go of it too.
  await sql`
    do $$
    declare
      role_name text;
    begin
      foreach role_name in array array['accounts_users', 'accounts_auth', 'accounts_notify'] loop
        begin
          execute format('drop role if exists %I', role_name);
        exception when dependent_objects_still_exist then
          raise notice 'role % still has rights in another database; left in place', role_name;
        end;
      end loop;
    end
    $$`.execute(db);
}
