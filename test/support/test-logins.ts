/**
 * Environment logins of one test run only (`precog_paper_test_<random>`): the test server is the
 * developer's too, whose own `precog_*_app` logins stay as they are. Dropped after the file's tests.
 */
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { dropEnvironmentLogins, loginRole, type LoginName } from '../../src/server/environment-logins.js';
import { poolFor, testServer } from './db.js';

export function testLogins(): { suffix: string; loginRole: (name: LoginName) => string } {
  const suffix = `_test_${randomBytes(3).toString('hex')}`;
  afterAll(async () => {
    const pool = poolFor('postgres', testServer(), 1);
    const client = await pool.connect();
    await dropEnvironmentLogins(client, suffix).finally(() => client.release());
    await pool.end();
  });
  return { suffix, loginRole: (name) => loginRole(name, suffix) };
}
