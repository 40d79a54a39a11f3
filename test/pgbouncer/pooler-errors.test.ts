/**
 * PgBouncer's own error texts, as its sources write them (src/objects.c, src/janitor.c of 1.18 and
 * 1.25, SQLSTATE 08P01), and what they become. server-killed.test.ts meets 1.18's for real; this
 * pins the texts of the versions that cannot run here, and the ones it cannot provoke.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionFault, ConnectionFailedError, ConnectionLostError, OutcomeUnknownError, toDatabaseError } from '../../src/runtime/database-errors.js';

const target = { host: '127.0.0.1', port: 6432, database: 'precog' };
const write = { name: 'openPosition', file: 'sql/positions.sql', readOnly: false };
/** An error as node-postgres reports PgBouncer's FATAL ErrorResponse. */
const pooler = (message: string) => Object.assign(new Error(message), { code: '08P01', severity: 'FATAL' });

describe("PgBouncer's errors", () => {
  it('a refusal before any statement reached a server is ConnectionFailedError (pooler), never outcome unknown, even for a write', () => {
    for (const message of [
      'server login has been failing, try again later (server_login_retry)', // 1.18
      'server login has been failing, cached error: connect failed (server_login_retry)', // 1.25
      'query_wait_timeout',
      'client_login_timeout (server down)',
    ]) {
      // As precog-db tags it: the first statement of the call (nothing of it ran) is a `connect` fault.
      const error = toDatabaseError(new ConnectionFault(pooler(message), 'connect', target), write);
      expect(error, message).toBeInstanceOf(ConnectionFailedError);
      expect((error as ConnectionFailedError).reason).toBe('pooler');
      expect((error as ConnectionFailedError).transient).toBe(true);
      expect(error.message).toContain(`got no server connection from the pooler at 127.0.0.1:6432/precog: ${message}. Nothing reached the database server`);
    }
  });

  it('max_client_conn: too-many-connections', () => {
    const error = toDatabaseError(new ConnectionFault(pooler('no more connections allowed (max_client_conn)'), 'connect', target), write);
    expect((error as ConnectionFailedError).reason).toBe('too-many-connections');
  });

  it('what can cut a statement a server was running stays by phase: a lone write is outcome unknown, a read is lost', () => {
    for (const message of ['server conn crashed?', 'query_timeout']) {
      expect(toDatabaseError(new ConnectionFault(pooler(message), 'autocommit', target), write), message).toBeInstanceOf(OutcomeUnknownError);
      expect(toDatabaseError(new ConnectionFault(pooler(message), 'autocommit', target), { ...write, readOnly: true }), message).toBeInstanceOf(ConnectionLostError);
    }
  });
});
