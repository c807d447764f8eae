import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { classifyDatabaseError, DependencyUnavailableError, isPostgresUnavailable } from './dependency-failure.js';

/** An error as node-postgres raises it for a server's answer: a DatabaseError with its SQLSTATE. */
function serverError(code: string, message: string): pg.DatabaseError {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

function socketError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, syscall: 'connect' });
}

describe('isPostgresUnavailable', () => {
  it.each([
    ['a session ended by a shutdown (57P01)', serverError('57P01', 'terminating connection due to administrator command')],
    ['a crash shutdown (57P02)', serverError('57P02', 'terminating connection because of crash of another server process')],
    ['a connect while shutting down or starting (57P03)', serverError('57P03', 'the database system is shutting down')],
    ['PgBouncer without its server (08P01)', serverError('08P01', 'server conn crashed?')],
    ['a connection failure (08006)', serverError('08006', 'connection failure')],
    ['too many connections (53300)', serverError('53300', 'sorry, too many clients already')],
    ['a demoted primary during a failover (25006)', serverError('25006', 'cannot execute INSERT in a read-only transaction')],
    ['a refused port', socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['a reset connection', socketError('ECONNRESET', 'read ECONNRESET')],
    ['a name that does not resolve yet', socketError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN accounts-db-rw')],
    ['a connection closed mid-query', new Error('Connection terminated unexpectedly')],
    ['a connect that timed out', new Error('Connection terminated due to connection timeout')],
    ['the pool waiting too long for a connection', new Error('timeout exceeded when trying to connect')],
    ['a client broken earlier', new Error('Client has encountered a connection error and is not queryable')],
    [
      'every address of a name refused',
      Object.assign(new AggregateError([socketError('ECONNREFUSED', 'connect ECONNREFUSED ::1:5432'), socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')]), {
        code: 'ECONNREFUSED',
      }),
    ],
  ])('is true for %s', (_case, error) => {
    expect(isPostgresUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation (23505)', serverError('23505', 'duplicate key value violates unique constraint "users_email_key"')],
    ['a missing table (42P01)', serverError('42P01', 'relation "users.nope" does not exist')],
    ['a syntax error (42601)', serverError('42601', 'syntax error at or near "selec"')],
    ['a wrong password (28P01)', serverError('28P01', 'password authentication failed for user "accounts_users"')],
    ['a serialization failure (40001)', serverError('40001', 'could not serialize access due to concurrent update')],
    ['a bug of ours', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['something that is no error', 'Connection terminated unexpectedly'],
    ['nothing', undefined],
  ])('is false for %s', (_case, error) => {
    expect(isPostgresUnavailable(error)).toBe(false);
  });
});

describe('classifyDatabaseError', () => {
  it('names the database and keeps the original error as the cause', () => {
    const original = serverError('57P01', 'terminating connection due to administrator command');
    const classified = classifyDatabaseError(original);
    expect(classified).toBeInstanceOf(DependencyUnavailableError);
    expect(classified).toMatchObject({ dependency: 'database', cause: original, message: expect.stringContaining('administrator command') });
  });

  it('leaves any other error as it is, so its code still tells a unique violation', () => {
    const original = serverError('23505', 'duplicate key value violates unique constraint "users_email_key"');
    expect(classifyDatabaseError(original)).toBe(original);
  });
});
