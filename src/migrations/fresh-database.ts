/**
 * Databases built from the migrations alone, never from a developer's database, so that drift
 * there cannot leak into generated types, snapshots or tests.
 *
 * Committed migrations are applied once into a template database named after their hash;
 * every fresh database is a copy of it (CREATE DATABASE ... TEMPLATE, a file copy: fast).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrate, watch } from 'graphile-migrate';
// graphile-migrate keeps idle pools for 200 ms and exits the process if one of their connections
// is terminated; release them before renaming or dropping a database they were connected to.
import { clearAllPools } from 'graphile-migrate/dist/pgReal.js';
import pg from 'pg';
import type { ServerTarget } from '../server/connection-string.js';
import { connect, ensureDatabase } from '../server/resolve.js';
import { quietLogger } from './logger.js';
import { COMMITTED_DIR, CURRENT_MIGRATION, migrateSettings } from './settings.js';

const TEMPLATE_PREFIX = 'precog_template_';

export interface FreshDatabaseOptions {
  /** Also apply migrations/current.sql (the migration being written). */
  includeCurrent?: boolean;
}

/** Drops `name` if it exists and recreates it, migrated from nothing. */
export async function freshDatabase(server: ServerTarget, name: string, options: FreshDatabaseOptions = {}): Promise<void> {
  const template = await migratedTemplate(server);
  await cloneDatabase(server, template, name);
  if (options.includeCurrent && hasCurrentMigration()) {
    await watch({ ...migrateSettings(server, name), logger: quietLogger }, true);
  }
}

/**
 * The name of an up-to-date template of the committed migrations, building it if needed. Each
 * user of a server has templates of their own: a database belongs to whoever created it, and
 * another user may not copy it (nor drop it when it is stale).
 */
export async function migratedTemplate(server: ServerTarget): Promise<string> {
  const prefix = `${TEMPLATE_PREFIX}${createHash('sha1').update(server.user).digest('hex').slice(0, 8)}_`;
  const name = prefix + committedHash();
  const admin = await connect(server, 'postgres');
  try {
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname',
      [`${prefix}%`],
    );
    if (rows.some((row) => row.datname === name)) return name;
    // Built under a scratch name and renamed, so a concurrent reader never sees a half-migrated template.
    const scratch = `${name}_${process.pid}`;
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(scratch)}`);
    await ensureDatabase(server, scratch);
    await migrate({ ...migrateSettings(server, scratch), logger: quietLogger });
    await releaseConnections(admin, scratch);
    await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(scratch)} RENAME TO ${pg.escapeIdentifier(name)}`).catch(
      async (error: { code?: string }) => {
        // 42P04: another process finished the same template first; ours is redundant.
        if (error.code !== '42P04') throw error;
        await admin.query(`DROP DATABASE ${pg.escapeIdentifier(scratch)}`);
      },
    );
    // Templates of older migration sets are never used again.
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    return name;
  } finally {
    await admin.end();
  }
}

export async function cloneDatabase(server: ServerTarget, template: string, name: string): Promise<void> {
  const admin = await connect(server, 'postgres');
  try {
    await releaseConnections(admin, name);
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`);
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(server: ServerTarget, name: string): Promise<void> {
  const admin = await connect(server, 'postgres');
  try {
    await releaseConnections(admin, name);
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Closes graphile-migrate's idle pools and waits (briefly) until `database` has no sessions. */
async function releaseConnections(admin: pg.Client, database: string): Promise<void> {
  clearAllPools();
  for (let attempt = 0; attempt < 25; attempt++) {
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [database]);
    if (rows[0]!.n === 0) return;
    await sleep(20);
  }
}

/** Hash of every committed migration file: a new or edited migration means a new template. */
function committedHash(): string {
  const hash = createHash('sha256');
  if (existsSync(COMMITTED_DIR)) {
    for (const file of readdirSync(COMMITTED_DIR).sort()) {
      hash.update(file).update(readFileSync(join(COMMITTED_DIR, file)));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/** Whether migrations/current.sql holds anything but comments. */
export function hasCurrentMigration(): boolean {
  if (!existsSync(CURRENT_MIGRATION)) return false;
  const sql = readFileSync(CURRENT_MIGRATION, 'utf8').replace(/--.*$/gm, '').trim();
  return sql.length > 0;
}

/**
 * Resets `name` to a copy of `template` in milliseconds: a spare copy made earlier (`refillSpare`)
 * is renamed into place, and the old database is renamed away (dropped by the next refill).
 * Sessions on `name` are ended, as DROP DATABASE ... WITH (FORCE) would. Without a spare of this
 * template, it is a plain clone.
 */
export async function resetFromSpare(server: ServerTarget, template: string, name: string): Promise<void> {
  const { spare, trash } = spareNames(name);
  const admin = await connect(server, 'postgres');
  try {
    if (!(await isSpareOf(admin, spare, template))) {
      await admin.end();
      return await cloneDatabase(server, template, name);
    }
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(trash)} WITH (FORCE)`);
    clearAllPools();
    for (let attempt = 0; ; attempt++) {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      try {
        await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} RENAME TO ${pg.escapeIdentifier(trash)}`);
        break;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '3D000') break; // no such database: nothing to move away
        if (code !== '55006' || attempt > 50) throw error; // 55006: a session is still leaving
        await sleep(10);
      }
    }
    await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(spare)} RENAME TO ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** Prepares the next `resetFromSpare` of `name`: drops the old copy, copies `template` as the spare. */
export async function refillSpare(server: ServerTarget, template: string, name: string): Promise<void> {
  const { spare, trash } = spareNames(name);
  const admin = await connect(server, 'postgres');
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(trash)} WITH (FORCE)`);
    if (await isSpareOf(admin, spare, template)) return;
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(spare)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(spare)} TEMPLATE ${pg.escapeIdentifier(template)}`);
    await admin.query(`COMMENT ON DATABASE ${pg.escapeIdentifier(spare)} IS ${pg.escapeLiteral(`spare of ${template}`)}`);
  } finally {
    await admin.end();
  }
}

/** Drops the spare and the old copy of `name` (a dev loop stopping). */
export async function dropSpares(server: ServerTarget, name: string): Promise<void> {
  const { spare, trash } = spareNames(name);
  await dropDatabase(server, spare);
  await dropDatabase(server, trash);
}

function spareNames(name: string): { spare: string; trash: string } {
  return { spare: `${name.slice(0, 50)}__spare`, trash: `${name.slice(0, 50)}__old` };
}

async function isSpareOf(admin: pg.Client, spare: string, template: string): Promise<boolean> {
  const { rows } = await admin.query<{ comment: string | null }>(
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
    [spare],
  );
  return rows[0]?.comment === `spare of ${template}`;
}
