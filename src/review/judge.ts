/**
 * What a change does to the guarantees: the head is a clone of the base database with the
 * change's migrations applied in one transaction that is rolled back at the end, so that
 * cluster-wide effects of a migration under review (GRANT precog_live TO precog_paper, ALTER
 * ROLE ... BYPASSRLS) are judged and never land on the server. Inside that transaction: the
 * head's snapshot, the invariants of the head schema against the declarations (guarantees.ts),
 * the data changes of the migrations (data-changes.ts) and the queries of sql/ against the head
 * (consumers.ts).
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { SourceFile } from '../lint/migration-rules.js';
import { cloneDatabase, dropDatabase } from '../migrations/fresh-database.js';
import { readCatalog } from '../schema/catalog.js';
import { renderSnapshot } from '../schema/snapshot.js';
import type { ServerTarget } from '../server/connection-string.js';
import { connect } from '../server/resolve.js';
import { consumerPoints } from './consumers.js';
import { dataChangePoints } from './data-changes.js';
import { guaranteeFindings, readRegistry, viewOptionPoints } from './catalog-audit.js';
import { type Finding, finding } from '../lint/finding.js';
import { declaredIn, type Installed, installedBy } from './declared.js';

export interface Change {
  server: ServerTarget;
  /** A database built from the base (left as it is: the head is a clone of it). */
  baseDatabase: string;
  /** Migrations the change adds on top of the base, in order (new committed ones, then current.sql). */
  migrations: SourceFile[];
  baseSql: SourceFile[];
  headSql: SourceFile[];
  /** A database already built from the head (when the change edits a committed migration, the head cannot be the base plus migrations): cloned instead of the base, and `migrations` are only read. */
  headDatabase?: string;
}

export interface Judgement {
  baseSnapshot: string;
  headSnapshot: string;
  points: Finding[];
  /** What the declarations the change makes installed, per declared table (declared.ts). */
  installed: Installed[];
}

export async function judgeChange(change: Change): Promise<Judgement> {
  const headDatabase = `precog_review_head_${randomBytes(4).toString('hex')}`;
  await cloneDatabase(change.server, change.headDatabase ?? change.baseDatabase, headDatabase);
  const base = await connect(change.server, change.baseDatabase);
  const head = await connect(change.server, headDatabase);
  try {
    await base.query('BEGIN');
    const baseSnapshot = renderSnapshot(await readCatalog(base));
    const baseRegistry = await readRegistry(base);
    await head.query('BEGIN');
    const points: Finding[] = [];
    for (const migration of change.headDatabase ? [] : change.migrations) {
      await head.query('SAVEPOINT precog_migration');
      try {
        // In one transaction: CREATE INDEX CONCURRENTLY builds the same index without the keyword.
        await head.query(migration.text.replace(/\bCONCURRENTLY\b/gi, ''));
        await head.query('RELEASE SAVEPOINT precog_migration');
      } catch (error) {
        await head.query('ROLLBACK TO SAVEPOINT precog_migration');
        const e = error as pg.DatabaseError;
        points.push(finding('migration/fails', migration.path, `the migration fails on the base schema: ${e.message}${e.hint ? ` (${e.hint})` : ''}`, 'fix the migration; nothing after the failing statement was judged'));
        break;
      }
    }
    // Settings a migration may have changed (search_path) must not change how the catalog reads.
    await head.query('RESET ALL');
    const headSnapshot = renderSnapshot(await readCatalog(head));
    const headRegistry = await readRegistry(head);
    // From pg_enum, not enum_range(): a value added by the change is not usable before it commits.
    const environments = (await head.query<{ v: string }>(`
        SELECT e.enumlabel AS v FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
         WHERE t.typname = 'execution_environment' AND t.typnamespace = 'public'::regnamespace ORDER BY e.enumsortorder`)).rows.map((r) => r.v);
    points.push(...(await guaranteeFindings(head, baseRegistry)));
    points.push(...(await viewOptionPoints(base, head)));
    points.push(...dataChangePoints(change.migrations, [...headRegistry, ...baseRegistry.filter((d) => !headRegistry.some((h) => h.table_name === d.table_name))], environments));
    points.push(...(await consumerPoints(base, head, change.baseSql, change.headSql)));
    const installed = [];
    for (const table of declaredIn(change.migrations.map((m) => m.text))) {
      const objects = await installedBy(head, table);
      if (objects) installed.push(objects);
    }
    return { baseSnapshot, headSnapshot, points: dedupe(points), installed };
  } finally {
    await head.query('ROLLBACK').catch(() => undefined);
    await base.query('ROLLBACK').catch(() => undefined);
    await head.end();
    await base.end();
    await dropDatabase(change.server, headDatabase);
  }
}

function dedupe(points: Finding[]): Finding[] {
  const seen = new Set<string>();
  return points.filter((p) => {
    const key = `${p.rule}\u0000${p.object}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
