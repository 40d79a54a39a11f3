/**
 * Puts the framework files a migration must ship into migrations/current.sql: every file that
 * differs from what the committed migrations install (edited, or new) gets a block, every block
 * already there is refreshed from its file, and the call that regenerates every declared table
 * closes the migration. Run by `npm run framework` and by the commit command before committing.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cloneDatabase, dropDatabase, migratedTemplate } from '../migrations/fresh-database.js';
import { CURRENT_MIGRATION } from '../migrations/settings.js';
import type { ServerTarget } from '../server/connection-string.js';
import { connect } from '../server/resolve.js';
import { includeFiles, refreshBlocks } from './blocks.js';
import { driftProblems, frameworkDrift } from './drift.js';
import { frameworkFiles, type FrameworkFile } from './files.js';

export interface Shipped {
  added: string[];
  refreshed: string[];
}

/** The files that differ from what the committed migrations install. */
export async function changedSinceCommitted(server: ServerTarget, files: FrameworkFile[]): Promise<FrameworkFile[]> {
  const database = `precog_framework_${randomBytes(4).toString('hex')}`;
  await cloneDatabase(server, await migratedTemplate(server), database);
  const client = await connect(server, database);
  try {
    await client.query('BEGIN');
    const report = await frameworkDrift(client, files);
    if (report.problems.length) throw new Error(`db/framework has problems:\n${driftProblems({ ...report, differences: [], unsourced: [] }, 'the committed migrations').map((p) => `- ${p}`).join('\n')}`);
    const changed = new Set(report.differences.map((d) => d.file));
    return files.filter((f) => changed.has(f.path));
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
    await dropDatabase(server, database);
  }
}

export async function shipFramework(server: ServerTarget): Promise<Shipped> {
  const files = frameworkFiles();
  const changed = await changedSinceCommitted(server, files);
  const before = existsSync(CURRENT_MIGRATION) ? readFileSync(CURRENT_MIGRATION, 'utf8') : '';
  const refreshed = refreshBlocks(before, files);
  if (refreshed.unknown.length) {
    throw new Error(`migrations/current.sql carries ${refreshed.unknown.join(', ')}, which db/framework no longer has: remove the block (-- framework:begin ... -- framework:end) or restore the file.`);
  }
  const included = changed.length ? includeFiles(refreshed.text, changed) : { text: refreshed.text, added: [] };
  if (included.text !== before) writeFileSync(CURRENT_MIGRATION, included.text);
  return { added: included.added, refreshed: refreshed.refreshed };
}
