/**
 * Provides every test file with a server and a database migrated from nothing:
 * - TEST_DATABASE_URL: an existing server (the database named in it is not touched; clones are made beside it);
 * - PRECOG_TEST_DB=testcontainers: a throwaway PostgreSQL in Docker;
 * - otherwise the embedded server.
 */
import type { TestProject } from 'vitest/node';
import { freshDatabase, dropDatabase, cloneDatabase } from '../../src/migrations/fresh-database.js';
import type { ServerTarget } from '../../src/server/connection-string.js';
import { resolveTarget } from '../../src/server/resolve.js';
import { startContainer } from './container.js';

// Per run, so that two test runs on one server (two terminals, two clones) never share a database.
const TEMPLATE = `precog_test_template_${process.pid}`;
const SHARED = `precog_test_${process.pid}`;

declare module 'vitest' {
  export interface ProvidedContext {
    server: ServerTarget;
    /** Cloned, never connected to (a session on it makes every clone fail). */
    template: string;
    /** A migrated database that tests only read (the catalog, pgtyped's type inference); withRollback uses one per file. */
    shared: string;
  }
}

export default async function setup(project: TestProject) {
  const container = process.env.PRECOG_TEST_DB === 'testcontainers' ? await startContainer() : undefined;
  const server = container?.server ?? (await resolveTarget('TEST_DATABASE_URL')).server;
  await freshDatabase(server, TEMPLATE, { includeCurrent: true });
  await cloneDatabase(server, TEMPLATE, SHARED);
  project.provide('server', server);
  project.provide('template', TEMPLATE);
  project.provide('shared', SHARED);
  return async () => {
    if (container) return container.stop();
    await dropDatabase(server, SHARED);
    await dropDatabase(server, TEMPLATE);
  };
}
