/**
 * What differs between PostgreSQL majors is known in one place (src/server/majors.ts), and this
 * file, run on every major by CI, proves that nothing else differs: the schema built from the
 * migrations deparses to generated/schema.sql (the snapshot major's), but for the differences
 * majors.ts names, and each named difference is real on the majors it names.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../src/review/schema-diff.js';
import { parseSnapshot } from '../../src/schema/snapshot-format.js';
import { schemaSnapshot } from '../../src/schema/snapshot.js';
import { deparsesLikeSnapshot, partitionsInheritIdentity, snapshotMajor, viewsQualifyColumns } from '../../src/server/majors.js';
import { testServer, withFreshDatabase } from '../support/db.js';

const committed = readFileSync(new URL('../../generated/schema.sql', import.meta.url), 'utf8');

async function majorOf(query: (sql: string) => Promise<{ rows: { v: string }[] }>): Promise<number> {
  return Math.floor(Number((await query('SELECT current_setting(\'server_version_num\') AS v')).rows[0]!.v) / 10000);
}

/** A view's text with every `relation.` qualifier removed (15 writes `positions.id` where 16 on write `id`). */
const unqualified = (body: string) => body.replace(/\b[a-z_][a-z0-9_]*\.(?=[a-z_"])/g, '');

describe(`the schema on this major against generated/schema.sql (PostgreSQL ${snapshotMajor()}'s)`, () => {
  it('differs by the differences src/server/majors.ts names, and by nothing else', async () => {
    await withFreshDatabase(async (database, pool) => {
      const major = await majorOf((sql) => pool.query(sql));
      const text = await schemaSnapshot(testServer(), database);
      if (deparsesLikeSnapshot(major)) {
        expect(text).toBe(committed);
        return;
      }
      const blocks = parseSnapshot(text);
      const expected = parseSnapshot(committed);
      let identityColumns = 0;
      let qualifiedViews = 0;
      if (!partitionsInheritIdentity(major)) {
        // Before 17: each partition column of an identity column takes its root's sequence as default.
        const { rows } = await pool.query<{ partition: string; column: string; sequence: string; identity: string }>(`
          SELECT quote_ident(p.relname) AS partition, quote_ident(a.attname) AS column, s.relname AS sequence,
                 CASE r.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END AS identity
            FROM pg_class p
            JOIN pg_attribute a ON a.attrelid = p.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = ''
            JOIN pg_attribute r ON r.attrelid = pg_partition_root(p.oid) AND r.attname = a.attname AND r.attidentity <> ''
            JOIN pg_class s ON s.oid = pg_get_serial_sequence(pg_partition_root(p.oid)::text, r.attname)::regclass
           WHERE p.relispartition AND p.relnamespace = 'public'::regnamespace`);
        for (const { partition, column, sequence, identity } of rows) {
          const block = blocks.get(`table: ${partition}`)!;
          const line = new RegExp(`^(    ${column} .* NOT NULL) DEFAULT nextval\\('${sequence}'::regclass\\)(,?)$`, 'm');
          expect(block.body, `${partition}.${column} on PostgreSQL ${major}`).toMatch(line);
          block.body = block.body.replace(line, `$1 GENERATED ${identity} AS IDENTITY$2`);
          identityColumns++;
        }
        expect(identityColumns).toBeGreaterThan(0);
      }
      if (viewsQualifyColumns(major)) {
        for (const [key, block] of blocks) {
          if (block.kind !== 'view') continue;
          if (block.body !== expected.get(key)?.body) qualifiedViews++;
          block.body = unqualified(block.body);
          expected.get(key)!.body = unqualified(expected.get(key)!.body);
        }
        expect(qualifiedViews).toBeGreaterThan(0);
      }
      expect([...blocks.entries()]).toEqual([...expected.entries()]);
    });
  });
});

describe('PostgreSQL 18: virtual generated columns and catalogued NOT NULL constraints', () => {
  it('a virtual generated column (18\'s default kind) shows as one in the snapshot and the review', async (context) => {
    await withFreshDatabase(async (database, pool) => {
      const major = await majorOf((sql) => pool.query(sql));
      if (major < 18) context.skip(`virtual generated columns are PostgreSQL 18's (this is ${major})`);
      const before = await schemaSnapshot(testServer(), database);
      await pool.query(`ALTER TABLE markets ADD COLUMN quote_tick numeric(10,4) GENERATED ALWAYS AS (0.01)`);
      const after = await schemaSnapshot(testServer(), database);
      expect(after).toContain('    quote_tick numeric(10,4) GENERATED ALWAYS AS (0.01) VIRTUAL');
      expect(diffSnapshots(before, after).map((change) => change.text)).toEqual(['markets.quote_tick added: numeric(10,4) nullable GENERATED ALWAYS AS (0.01) VIRTUAL']);
    });
  });

  it('named NOT NULL constraints (catalogued from 18) show on their columns, never as constraints', async () => {
    await withFreshDatabase(async (database, pool) => {
      const major = await majorOf((sql) => pool.query(sql));
      const before = await schemaSnapshot(testServer(), database);
      await pool.query(`ALTER TABLE markets ADD COLUMN venue text CONSTRAINT markets_venue_required NOT NULL DEFAULT 'kalshi'`);
      const catalogued = await pool.query(`SELECT conname FROM pg_constraint WHERE conname = 'markets_venue_required'`);
      expect(catalogued.rows.length).toBe(major >= 18 ? 1 : 0);
      const after = await schemaSnapshot(testServer(), database);
      expect(after).not.toContain('markets_venue_required');
      expect(diffSnapshots(before, after).map((change) => change.text)).toEqual([`markets.venue added: text NOT NULL DEFAULT 'kalshi'::text`]);
    });
  });
});
