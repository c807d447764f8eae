import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { compileOnly, isUniqueViolation, withParameters, type Database, type UsersTable } from '../shared/database.js';
import type { Role } from '../contracts/tokens.js';
import { endEmailTokens } from './email-tokens.js';
import { UsersProblems } from './errors.js';
import { isUserId, type UserRecord, type UserResource } from './user.js';

type Db = Kysely<Database>;

/** Runs `work` in the caller's transaction, or in one of its own. */
function inTransaction<T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}

export interface NewUser {
  readonly email: string;
  readonly name: string;
  readonly surname: string;
  readonly passwordHash: string;
  readonly role?: Role;
}

export interface UserChanges {
  readonly email?: string;
  readonly name?: string;
  readonly surname?: string;
  readonly passwordHash?: string;
  readonly role?: Role;
  readonly emailVerified?: boolean;
  /**
   * Why every access token issued so far must stop working, and every session end (a password or
   * role change): the token version moves on and the sessions end, in the same transaction.
   */
  readonly revokeTokens?: string;
}

export interface UserFilter {
  readonly email?: string;
  readonly namePrefix?: string;
  readonly surnamePrefix?: string;
}

/** An admin's token: its user and token version, checked against the row in the same query. */
export interface AdminCaller {
  readonly userId: string;
  readonly tokenVersion: number;
}

/** Position after which a page starts: the (created_at, id) of the last row of the previous page. */
export interface PagePosition {
  readonly createdAt: string;
  readonly id: string;
}

export interface UserPage {
  /** The users as the API shows them (the listing never reads a hash). */
  readonly users: readonly UserResource[];
  readonly next: PagePosition | undefined;
}

/**
 * The columns of a user every users function may read. Never all columns: the functions that do
 * not check passwords connect as a role without the privilege on `password_hash`, and Postgres
 * refuses a statement that names it.
 */
const USER_COLUMNS = ['id', 'email', 'name', 'surname', 'role', 'email_verified', 'token_version', 'version', 'created_at', 'updated_at'] as const;

function toUserRecord(row: Omit<Selectable<UsersTable>, 'password_hash'>): UserRecord {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    surname: row.surname,
    role: row.role,
    emailVerified: row.email_verified,
    tokenVersion: row.token_version,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Inserts a user; a taken email (compared without case) answers 409, also when two inserts race. */
export async function insertUser(db: Db, user: NewUser): Promise<UserRecord> {
  try {
    const row = await db
      .insertInto('users.users')
      .values({
        email: user.email,
        name: user.name,
        surname: user.surname,
        password_hash: user.passwordHash,
        role: user.role,
      })
      .returning(USER_COLUMNS)
      .executeTakeFirstOrThrow();
    return toUserRecord(row);
  } catch (error) {
    if (isUniqueViolation(error, 'users_email_key')) throw UsersProblems.emailTaken.error();
    throw error;
  }
}

/** Every users function that checks a caller reads their row, on each request: compiled once. */
const USER_BY_ID = compileOnly.selectFrom('users.users').select(USER_COLUMNS).where('id', '=', '').compile();

export async function findUserById(db: Db, id: string): Promise<UserRecord | undefined> {
  const { rows } = await db.executeQuery(withParameters(USER_BY_ID, [id]));
  return rows[0] && toUserRecord(rows[0]);
}

/** The user with this id; 404 `user-not-found` when there is none (or the id is not a user id at all). */
export async function findUserOrNotFound(db: Db, id: string): Promise<UserRecord> {
  const user = isUserId(id) ? await findUserById(db, id) : undefined;
  if (!user) throw UsersProblems.userNotFound.error();
  return user;
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRecord | undefined> {
  const row = await db
    .selectFrom('users.users')
    .select(USER_COLUMNS)
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst();
  return row && toUserRecord(row);
}

/** A user and its password hash, by email: only for the functions that check passwords. */
export async function findCredentialsByEmail(db: Db, email: string): Promise<{ user: UserRecord; passwordHash: string } | undefined> {
  const row = await db
    .selectFrom('users.users')
    .select([...USER_COLUMNS, 'password_hash'])
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst();
  return row && { user: toUserRecord(row), passwordHash: row.password_hash };
}

/** A user's password hash: only for the functions that check passwords. */
export async function findPasswordHash(db: Db, id: string): Promise<string | undefined> {
  const row = await db.selectFrom('users.users').select('password_hash').where('id', '=', id).executeTakeFirst();
  return row?.password_hash;
}

/** A timestamp as the API writes it (what `Date#toISOString` writes), formatted by Postgres. */
const isoTime = (column: 'created_at' | 'updated_at') =>
  sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * One page of users in creation order (ties broken by id), filtered; `next` is set when more
 * follow. Rows come back ready to show: only the API's fields, times already formatted, so a page
 * costs no Date objects (a profile of users-list under load put a sixth of its time in parsing
 * them) and never a hash.
 */
export async function listUsers(db: Db, filter: UserFilter, limit: number, after?: PagePosition, asAdmin?: AdminCaller): Promise<UserPage> {
  const values: Record<ListSlot, unknown> = {
    email: filter.email?.toLowerCase(),
    namePrefix: filter.namePrefix === undefined ? undefined : likePrefix(filter.namePrefix),
    surnamePrefix: filter.surnamePrefix === undefined ? undefined : likePrefix(filter.surnamePrefix),
    afterTime: after?.createdAt,
    afterId: after?.id,
    callerId: asAdmin?.userId,
    callerVersion: asAdmin?.tokenVersion,
    rows: limit + 1,
  };
  const { statement, slots } = listStatementFor(values);
  const { rows } = await db.executeQuery(withParameters(statement, slots.map((slot) => values[slot])));
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    users: page.map(({ position_time: _position, ...user }) => user),
    next: rows.length > limit && last ? { createdAt: last.position_time, id: last.id } : undefined,
  };
}

/** The values a page's statement may take; which of them it takes depends on the filter. */
type ListSlot = 'email' | 'namePrefix' | 'surnamePrefix' | 'afterTime' | 'afterId' | 'callerId' | 'callerVersion' | 'rows';
const SLOT_MARK = '\u0000slot:';

/**
 * The page's statement for the parts of `values` that are set, compiled once per combination
 * (there are 32): built with a mark in place of each value, the compiled statement's parameters
 * say which value goes where.
 */
const listStatements = new Map<string, { statement: ReturnType<typeof compiledListQuery>; slots: ListSlot[] }>();
function listStatementFor(values: Readonly<Record<ListSlot, unknown>>) {
  const shape = (Object.keys(values) as ListSlot[]).filter((slot) => values[slot] !== undefined);
  const key = shape.join(',');
  let found = listStatements.get(key);
  if (!found) {
    const statement = compiledListQuery(new Set(shape));
    const slots = statement.parameters.map((parameter) => String(parameter).slice(SLOT_MARK.length) as ListSlot);
    found = { statement, slots };
    listStatements.set(key, found);
  }
  return found;
}

function compiledListQuery(present: ReadonlySet<ListSlot>) {
  const mark = (slot: ListSlot) => `${SLOT_MARK}${slot}` as never;
  let query = compileOnly
    .selectFrom('users.users')
    .select(['id', 'email', 'name', 'surname', 'role', 'email_verified as emailVerified', isoTime('created_at').as('createdAt'), isoTime('updated_at').as('updatedAt')])
    // Full microsecond precision, which a JS Date would lose, so the next page starts exactly here.
    .select(sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('position_time'));
  if (present.has('email')) query = query.where(sql<string>`lower(email)`, '=', mark('email'));
  if (present.has('namePrefix')) query = query.where(sql<string>`lower(name)`, 'like', mark('namePrefix'));
  if (present.has('surnamePrefix')) query = query.where(sql<string>`lower(surname)`, 'like', mark('surnamePrefix'));
  if (present.has('afterTime')) {
    query = query.where(sql<boolean>`(created_at, id) > (${mark('afterTime')}::timestamptz, ${mark('afterId')}::uuid)`);
  }
  if (present.has('callerId')) {
    // The caller's check rides in the page's query (Postgres runs it once, as an InitPlan): no
    // round trip of its own. A page that comes back empty says nothing about why.
    query = query.where(
      sql<boolean>`exists (select from users.users as caller where caller.id = ${mark('callerId')}::uuid and caller.role = 'admin' and caller.token_version = ${mark('callerVersion')})`,
    );
  }
  return query.orderBy('created_at').orderBy('id').limit(mark('rows')).compile();
}


/**
 * Applies changes only if the stored version is still `expectedVersion`, bumping the version.
 * Answers undefined when the user is gone or was changed in between. In the same transaction, a
 * new password ends every verification and reset token of the account, and a new address every
 * one not sent to it (see `endEmailTokens`).
 */
export async function updateUser(
  db: Db,
  id: string,
  expectedVersion: number,
  changes: UserChanges,
  now: Date,
): Promise<UserRecord | undefined> {
  try {
    return await inTransaction(db, async (trx) => {
      const row = await trx
        .updateTable('users.users')
        .set({
          ...(changes.email !== undefined ? { email: changes.email } : {}),
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...(changes.surname !== undefined ? { surname: changes.surname } : {}),
          ...(changes.passwordHash !== undefined ? { password_hash: changes.passwordHash } : {}),
          ...(changes.role !== undefined ? { role: changes.role } : {}),
          ...(changes.emailVerified !== undefined ? { email_verified: changes.emailVerified } : {}),
          ...(changes.revokeTokens !== undefined ? { token_version: sql<number>`token_version + 1` } : {}),
          version: sql<number>`version + 1`,
          updated_at: now,
        })
        .where('id', '=', id)
        .where('version', '=', expectedVersion)
        .returning(USER_COLUMNS)
        .executeTakeFirst();
      if (!row) return undefined;
      if (changes.revokeTokens !== undefined) await endSessions(trx, id, changes.revokeTokens);
      if (changes.passwordHash !== undefined) await endEmailTokens(trx, id);
      else if (changes.email !== undefined) await endEmailTokens(trx, id, row.email);
      return toUserRecord(row);
    });
  } catch (error) {
    if (isUniqueViolation(error, 'users_email_key')) throw UsersProblems.emailTaken.error();
    throw error;
  }
}

/**
 * Ends every session of the user that started before its token version moved on (their refresh
 * tokens stop working), through the database function that may: call it after moving the version
 * on, in the same transaction (the function ends no session at the user's current version).
 */
export async function endSessions(trx: Transaction<Database>, userId: string, reason: string): Promise<number> {
  const { rows } = await sql<{ ended: number }>`select public.accounts_end_sessions(${userId}::uuid, ${reason}) as ended`.execute(trx);
  return rows[0]?.ended ?? 0;
}

/**
 * Deletes the user if it still has `expectedVersion` (any version when undefined). What the other
 * domains hold of them (sign-ins, sessions, their events, lockout counts, tokens, alert deliveries,
 * dead letters) goes in the same statement: the trigger `users_forget_deleted` does that with the
 * rights it needs, reading the email from the deleted row. True when the user went.
 */
export async function deleteUser(db: Db, id: string, expectedVersion?: number): Promise<boolean> {
  let query = db.deleteFrom('users.users').where('id', '=', id);
  if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
  const deleted = await query.returning('id').executeTakeFirst();
  return deleted !== undefined;
}

/** Sets a user's role by email, revoking their tokens and sessions as any role change does; undefined when no user has that email. */
export async function setUserRoleByEmail(db: Db, email: string, role: Role, now: Date): Promise<UserRecord | undefined> {
  return inTransaction(db, async (trx) => {
    const current = await trx
      .selectFrom('users.users')
      .select(['id', 'role'])
      .where(sql<string>`lower(email)`, '=', email.toLowerCase())
      .forUpdate()
      .executeTakeFirst();
    if (!current) return undefined;
    // Granting a role someone has already changes nothing, and signs nobody out.
    if (current.role === role) return findUserById(trx, current.id);
    const row = await trx
      .updateTable('users.users')
      .set({ role, version: sql<number>`version + 1`, token_version: sql<number>`token_version + 1`, updated_at: now })
      .where('id', '=', current.id)
      .returning(USER_COLUMNS)
      .executeTakeFirstOrThrow();
    await endSessions(trx, row.id, 'role-changed');
    return toUserRecord(row);
  });
}

/** `%` and `_` in user input match themselves, not any character. */
function likePrefix(prefix: string): string {
  return `${prefix.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/**
 * A password reset by a link sent to `linkEmail`: the new hash, the address verified (the link
 * reached it), the token version moved on, every session ended and every verification and reset
 * token of the account ended, in one transaction; only while the account still has that address
 * (the redemption checked it, under the row's lock). Undefined when the user is gone or has
 * another address.
 */
export async function resetPassword(db: Db, userId: string, passwordHash: string, linkEmail: string, now: Date): Promise<UserRecord | undefined> {
  return inTransaction(db, async (trx) => {
    const row = await trx
      .updateTable('users.users')
      .set({
        password_hash: passwordHash,
        email_verified: true,
        token_version: sql<number>`token_version + 1`,
        version: sql<number>`version + 1`,
        updated_at: now,
      })
      .where('id', '=', userId)
      .where(sql<string>`lower(email)`, '=', linkEmail.toLowerCase())
      .returning(USER_COLUMNS)
      .executeTakeFirst();
    if (!row) return undefined;
    await endSessions(trx, userId, 'password-reset');
    await endEmailTokens(trx, userId);
    return toUserRecord(row);
  });
}

/**
 * Marks the address verified if it is still the account's (a link sent to an address the account
 * has since left proves nothing about the new one). True when it is now verified.
 */
export async function markEmailVerified(db: Db, userId: string, linkEmail: string, now: Date): Promise<boolean> {
  const row = await db
    .updateTable('users.users')
    .set({ email_verified: true, version: sql<number>`version + 1`, updated_at: now })
    .where('id', '=', userId)
    .where(sql<string>`lower(email)`, '=', linkEmail.toLowerCase())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}
