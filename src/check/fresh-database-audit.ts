/**
 * `npm run check`: the invariants of the head schema (src/review/catalog-audit.ts) on a fresh
 * database built from the migrations, current.sql included. Each blocking point is a problem.
 */
import { randomBytes } from 'node:crypto';
import { dropDatabase, freshDatabase } from '../migrations/fresh-database.js';
import { guaranteeFindings } from '../review/catalog-audit.js';
import type { ServerTarget } from '../server/connection-string.js';
import { connect } from '../server/resolve.js';

export async function guaranteeProblems(server: ServerTarget): Promise<string[]> {
  const database = `precog_check_${randomBytes(4).toString('hex')}`;
  await freshDatabase(server, database, { includeCurrent: true });
  const client = await connect(server, database);
  try {
    await client.query('BEGIN');
    const points = await guaranteeFindings(client);
    return points.filter((p) => p.blocking).map((p) => `${p.rule} ${p.object}: ${p.message}. Resolve: ${p.resolve}`);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
    await dropDatabase(server, database);
  }
}
