import { sql, type Kysely } from 'kysely';

// Contract: once every revision of users-create, users-update and users-verify connects as a
// member of accounts_credentials, the users functions that never check a password (members of
// accounts_users) lose the password hash column, and the rights to write users they never use.
// Revoking a table privilege takes its column privileges with it, so what accounts_users keeps is
// granted again column by column: every column but the hash (whichever exist when this runs), and
// the ones it writes (email_verified with the version and time of the change, once the account
// lifecycle has added it).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`revoke select, insert, update on users.users from accounts_users`.execute(db);
  await sql`
    do $$
    declare
      readable text;
    begin
      select string_agg(quote_ident(column_name), ', ' order by ordinal_position) into readable
        from information_schema.columns
        where table_schema = 'users' and table_name = 'users' and column_name <> 'password_hash';
      execute format('grant select (%s) on users.users to accounts_users', readable);
      if exists (select from information_schema.columns where table_schema = 'users' and table_name = 'users' and column_name = 'email_verified') then
        grant update (email_verified, version, updated_at) on users.users to accounts_users;
      end if;
    end
    $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`revoke select, update on users.users from accounts_users`.execute(db);
  await sql`grant select, insert, update on users.users to accounts_users`.execute(db);
}
