/**
 * The review's fixture corpus (test/review/fixtures/): each file is a pull-request-sized change,
 * a migration applied as current.sql on top of the project's migrations, optionally followed by
 * `--- append: sql/<file>.sql` sections that add to a query file. Its header says what the review
 * must conclude:
 *
 *   -- expect: block | pass
 *   -- point: <rule> <text>      a point with this rule whose object or message contains <text>
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceFile } from '../../src/lint/migration-rules.js';
import { judgeChange } from '../../src/review/judge.js';
import type { Finding } from '../../src/lint/finding.js';
import type { Installed } from '../../src/review/declared.js';
import type { ServerTarget } from '../../src/server/connection-string.js';
import { PROJECT_ROOT } from '../../src/project.js';

export const FIXTURE_DIR = join(PROJECT_ROOT, 'test', 'review', 'fixtures');

export interface Fixture {
  name: string;
  expect: 'block' | 'pass';
  points: { rule: string; text: string }[];
  migration: string;
  appends: Map<string, string>;
}

export function readFixtures(): Fixture[] {
  return readdirSync(FIXTURE_DIR).filter((name) => name.endsWith('.sql')).sort().map((file) => {
    const text = readFileSync(join(FIXTURE_DIR, file), 'utf8');
    const [migration, ...sections] = text.split(/^--- append: /m);
    const appends = new Map(sections.map((section) => {
      const newline = section.indexOf('\n');
      return [section.slice(0, newline).trim(), section.slice(newline + 1)];
    }));
    const expect = /^-- expect: (block|pass)$/m.exec(text)?.[1] as Fixture['expect'] | undefined;
    if (!expect) throw new Error(`${file}: no "-- expect: block|pass" line`);
    const points = [...text.matchAll(/^-- point: (\S+) (.+)$/gm)].map((m) => ({ rule: m[1]!, text: m[2]!.trim() }));
    return { name: file.replace(/\.sql$/, ''), expect, points, migration: migration!, appends };
  });
}

export function projectSql(): SourceFile[] {
  const dir = join(PROJECT_ROOT, 'sql');
  return readdirSync(dir).filter((name) => name.endsWith('.sql')).sort().map((name) => ({ path: `sql/${name}`, text: readFileSync(join(dir, name), 'utf8') }));
}

export interface FixtureResult {
  fixture: Fixture;
  points: Finding[];
  baseSnapshot: string;
  headSnapshot: string;
  /** What the declarations the fixture makes installed (for the folded schema changes). */
  installed: Installed[];
  blocked: boolean;
  /** The expected points the review said, and those it did not. */
  said: Fixture['points'];
  missed: Fixture['points'];
}

export const matches = (expected: { rule: string; text: string }, p: Finding) =>
  p.rule === expected.rule && `${p.object} ${p.message}`.includes(expected.text);

export async function runFixture(server: ServerTarget, baseDatabase: string, fixture: Fixture): Promise<FixtureResult> {
  const baseSql = projectSql();
  const headSql = baseSql.map((file) => ({ ...file, text: file.text + (fixture.appends.get(file.path) ? `\n${fixture.appends.get(file.path)}` : '') }));
  const { points, baseSnapshot, headSnapshot, installed } = await judgeChange({
    server, baseDatabase, baseSql, headSql,
    migrations: [{ path: 'migrations/current.sql', text: fixture.migration }],
  });
  const said = fixture.points.filter((e) => points.some((p) => matches(e, p)));
  return { fixture, points, baseSnapshot, headSnapshot, installed, blocked: points.some((p) => p.blocking), said, missed: fixture.points.filter((e) => !said.includes(e)) };
}
