/** graphile-migrate settings: `.gmrc` plus the connection strings of the resolved server. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from 'graphile-migrate';
import JSON5 from 'json5';
import { connectionString, type ServerTarget } from '../server/connection-string.js';
import { PROJECT_ROOT } from '../server/embedded.js';

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'migrations');
export const CURRENT_MIGRATION = join(MIGRATIONS_DIR, 'current.sql');
export const COMMITTED_DIR = join(MIGRATIONS_DIR, 'committed');

export function migrateSettings(server: ServerTarget, database: string): Settings {
  const file = join(PROJECT_ROOT, '.gmrc');
  let fromFile: Settings;
  try {
    fromFile = JSON5.parse(readFileSync(file, 'utf8')) as Settings;
  } catch (error) {
    throw new Error(`Cannot read ${file}: ${(error as Error).message}. It must be a JSON5 object of graphile-migrate settings.`);
  }
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
