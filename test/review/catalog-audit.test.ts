/**
 * The review on a corpus of pull-request-sized changes (test/review/fixtures/): each risky one
 * blocks with the point a reviewer needs, each safe one does not block. The head of each is the
 * project's migrations plus the fixture, judged in a transaction that is rolled back.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cloneDatabase, dropDatabase } from '../../src/migrations/fresh-database.js';
import { renderFinding } from '../../src/review/render-finding.js';
import { declaredLine, foldDeclarations } from '../../src/review/declared.js';
import { diffSnapshots } from '../../src/review/schema-diff.js';
import { connect } from '../../src/server/resolve.js';
import { readFixtures, runFixture } from '../support/review-fixtures.js';

const fixtures = readFixtures();
// A base of its own: the judge connects to it, and the shared template must stay free to clone.
const base = `precog_review_fixtures_${randomBytes(4).toString('hex')}`;

describe('review of the fixture corpus', () => {
  let major = 0;
  beforeAll(async () => {
    await cloneDatabase(inject('server'), inject('template'), base);
    const client = await connect(inject('server'), base);
    major = Math.floor(Number((await client.query('SHOW server_version_num')).rows[0].server_version_num) / 10000);
    await client.end();
  });
  afterAll(async () => dropDatabase(inject('server'), base));

  it('has risky and safe changes of every kind', () => {
    expect(fixtures.filter((f) => f.expect === 'block').length).toBeGreaterThanOrEqual(30);
    expect(fixtures.filter((f) => f.expect === 'pass').length).toBeGreaterThanOrEqual(6);
    for (const f of fixtures.filter((f) => f.expect === 'block')) expect(f.points.length, f.name).toBeGreaterThan(0);
  });

  for (const fixture of fixtures) {
    it(`${fixture.name}: ${fixture.expect === 'block' ? 'blocks, saying what is lost' : 'does not block'}`, async ({ skip }) => {
      // A dropped index is judged by the query's predicates (index-use.ts), on every major; only an
      // expression index's use is read from a plan (EXPLAIN (GENERIC_PLAN), PostgreSQL 16+).
      if (major < 16 && fixture.points.some((p) => p.rule === 'consumer/index-dropped' && p.text.includes('expression'))) skip(`expression-index checks need PostgreSQL 16+ (this is ${major})`);
      const result = await runFixture(inject('server'), base, fixture);
      const report = result.points.map(renderFinding).join('\n');
      if (fixture.expect === 'pass') {
        expect(result.points.filter((p) => p.blocking).map(renderFinding)).toEqual([]);
      } else {
        expect(result.blocked, report).toBe(true);
        expect(result.missed, report).toEqual([]);
        // Every blocking point tells the reviewer how to resolve it.
        for (const p of result.points.filter((p) => p.blocking)) expect(p.resolve.length, renderFinding(p)).toBeGreaterThan(10);
      }
    });
  }

  it('ties a dropped index to the queries whose predicates it serves, on every major', { timeout: 120_000 }, async () => {
    const fixture = fixtures.find((f) => f.name.endsWith('index-dropped-query-relies-on'))!;
    const rules = (await runFixture(inject('server'), base, fixture)).points.map((p) => `${p.rule} ${p.object}${p.blocking ? ' (blocking)' : ''}`);
    const planned = rules.filter((r) => r.startsWith('consumer/index-dropped'));
    // listTradesByMarket is still served by trades_market_id_idx, so only the queries that lose their index are named.
    expect(planned).toContain('consumer/index-dropped sql/trades.sql:listRecentTrades (blocking)');
    expect(planned.filter((r) => r.includes('listTradesByMarket'))).toEqual([]);
  });

  it('puts role attributes and memberships into the snapshot, so that the schema diff shows them too', async () => {
    const byName = (name: string) => fixtures.find((f) => f.name.endsWith(name))!;
    const granted = await runFixture(inject('server'), base, byName('role-live-granted-to-paper'));
    expect(granted.headSnapshot).toContain('-- membership: precog_paper in precog_live\nGRANT precog_live TO precog_paper;');
    const bypass = await runFixture(inject('server'), base, byName('role-bypassrls'));
    expect(bypass.headSnapshot).toContain('-- role: precog_backtest\nCREATE ROLE precog_backtest BYPASSRLS;');
    // Judged in a transaction rolled back: the server's roles are as they were.
    const client = await connect(inject('server'), base);
    try {
      const { rows } = await client.query(`SELECT pg_has_role('precog_paper', 'precog_live', 'MEMBER') AS member, (SELECT rolbypassrls FROM pg_roles WHERE rolname = 'precog_backtest') AS bypass`);
      expect(rows[0]).toEqual({ member: false, bypass: false });
    } finally {
      await client.end();
    }
  });

  it('says the objects a declaration installs in one line per declared table, and a disabled trigger as disabled', async () => {
    const byName = (name: string) => fixtures.find((f) => f.name.endsWith(name))!;
    const folded = async (name: string) => {
      const result = await runFixture(inject('server'), base, byName(name));
      return foldDeclarations(diffSnapshots(result.baseSnapshot, result.headSnapshot), result.installed);
    };
    const declared = await folded('safe-declared-tagged-table');
    expect(declared.declared.map(declaredLine)).toEqual([expect.stringMatching(/^declared `fills_audit` as append_only: \d+ objects the declaration installs/)]);
    expect(declared.declared[0]!.objects.length).toBeGreaterThan(40);
    // What is left is what the author wrote: the table and its key.
    expect(declared.changes.map((c) => c.text)).toEqual([
      expect.stringMatching(/^table fills_audit added/),
      expect.stringMatching(/^constraint fills_audit.fills_audit_pkey added/),
    ]);
    // Without a declaration in the change, a guard's change is said in full, not folded.
    const dropped = await folded('guard-trigger-dropped');
    expect(dropped.declared).toEqual([]);
    expect(dropped.changes.map((c) => c.text)).toContainEqual(expect.stringMatching(/^trigger \S+ removed$/));
    const disabled = await folded('guard-trigger-disabled');
    expect(disabled.changes.map((c) => c.text)).toEqual(['trigger positions_live.live_history_kept: disabled']);
  }, 180_000); // three fixtures judged in turn

  it('the head schema of the project itself has every guarantee', async () => {
    const result = await runFixture(inject('server'), base, { name: 'empty', expect: 'pass', points: [], migration: '-- nothing', appends: new Map() });
    expect(result.points.map(renderFinding)).toEqual([]);
  });
});
