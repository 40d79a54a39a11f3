/** graphile-migrate settings: `.gmrc.cjs` plus the connection strings of the resolved server. */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Settings } from 'graphile-migrate';
import { connectionString, type ServerTarget } from '../server/connection-string.js';
import { PROJECT_ROOT } from '../project.js';

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'migrations');
export const CURRENT_MIGRATION = join(MIGRATIONS_DIR, 'current.sql');
export const COMMITTED_DIR = join(MIGRATIONS_DIR, 'committed');

export function migrateSettings(server: ServerTarget, database: string): Settings {
  const fromFile = gmrcSettings();
  return {
    ...fromFile,
    migrationsFolder: MIGRATIONS_DIR,
    connectionString: connectionString(server, database),
    shadowConnectionString: connectionString(server, `${database}_shadow`),
    rootConnectionString: connectionString(server, 'postgres'),
    databaseOwner: server.user,
  };
}

/** The environment the graphile-migrate CLI reads its connections from. */
export function migrateEnvironment(server: ServerTarget, database: string): Record<string, string> {
  return {
    DATABASE_URL: connectionString(server, database),
    SHADOW_DATABASE_URL: connectionString(server, `${database}_shadow`),
    ROOT_DATABASE_URL: connectionString(server, 'postgres'),
  };
}

/**
 * Keys of .gmrc.cjs that precog-db's own commands supply themselves: the connections (.gmrc.cjs
 * computes them lazily for graphile-migrate's CLI; reading them here would start a second
 * process) and afterCurrent (the in-process commands regenerate the types themselves, and the
 * hook would run codegen inside codegen's own fresh database build).
 */
const SUPPLIED_HERE = new Set(['connectionString', 'shadowConnectionString', 'rootConnectionString', 'databaseOwner', 'afterCurrent']);

let cached: Settings | undefined;
function gmrcSettings(): Settings {
  if (cached) return cached;
  const file = join(PROJECT_ROOT, '.gmrc.cjs');
  let loaded: Record<string, unknown>;
  try {
    loaded = createRequire(import.meta.url)(file) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`Cannot load ${file}: ${(error as Error).message}. It must export an object of graphile-migrate settings.`);
  }
  const settings: Record<string, unknown> = {};
  for (const key of Object.keys(loaded)) if (!SUPPLIED_HERE.has(key)) settings[key] = loaded[key];
  return (cached = settings as Settings);
}
