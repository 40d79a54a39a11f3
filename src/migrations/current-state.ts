/** What graphile-migrate records about current.sql in a database. */
import type { ServerTarget } from '../server/connection-string.js';
import { connect } from '../server/resolve.js';

/** Whether `database` has a non-empty current.sql applied (graphile_migrate.current, written by watch). */
export async function currentAppliedTo(server: ServerTarget, database: string): Promise<boolean> {
  const client = await connect(server, database);
  try {
    const { rows } = await client.query<{ content: string }>('SELECT content FROM graphile_migrate.current');
    return rows.some((row) => row.content.replace(/--.*$/gm, '').trim() !== '');
  } catch {
    return false; // no graphile_migrate schema yet
  } finally {
    await client.end();
  }
}
