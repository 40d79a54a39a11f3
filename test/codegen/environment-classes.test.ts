/**
 * Codegen classes every query from what it reads and writes, with the tagged relations read from
 * the schema's catalog: a mode-blind query over a tagged relation fails codegen (file, line,
 * query, table and the fix) and nothing is written; the pinned forms are `scoped`, queries over
 * shared tables only `shared`, and marked ones `cross`.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codegen } from '../../src/codegen/codegen.js';
import { CodegenError } from '../../src/codegen/problems.js';
import { taggedRelations } from '../../src/environment/tagged-relations.js';
import { connect } from '../../src/server/resolve.js';
import { inject } from 'vitest';
import { testServer, withRollback } from '../support/db.js';

const scratch = mkdtempSync(join(tmpdir(), 'precog-classes-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sqlDir(name: string, text: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.sql`), text);
  return dir;
}

/** Each query on its own lines; `at` is where the offending reference is (1-based line of the file). */
const MODE_BLIND = [
  ['listAllTrades', 'SELECT id FROM trades WHERE price > :min_price!;'],
  ['listTradesOrAll', 'SELECT id FROM trades\nWHERE execution_environment = :execution_environment OR :execution_environment IS NULL;'],
  ['listTradesInTwo', "SELECT id FROM trades WHERE execution_environment IN (:execution_environment!, 'live');"],
  ['listTradesAnyOfTwo', "SELECT id FROM trades WHERE execution_environment = ANY(ARRAY[:execution_environment!, 'paper']::execution_environment[]);"],
  ['listTradesWithPositions', 'SELECT t.id FROM trades t\nJOIN positions p ON p.id = t.position_id\nWHERE t.execution_environment = :execution_environment!;'],
  ['listTradesOfOpenPositions', "SELECT id FROM trades\nWHERE execution_environment = :execution_environment!\n  AND position_id IN (SELECT id FROM positions WHERE status = 'open');"],
  ['listOpenPositionIds', "WITH open AS (\n  SELECT id FROM positions WHERE status = 'open'\n)\nSELECT id FROM open;"],
  ['listTradeAndPositionIds', 'SELECT id FROM trades WHERE execution_environment = :execution_environment!\nUNION ALL\nSELECT id FROM positions;'],
  ['listLiveTradesPartition', 'SELECT id FROM trades_live;'],
  // A single-environment view has the column: reading it unmarked is refused too (see classify.ts).
  ['listPaperTradesView', 'SELECT id FROM paper_trades;'],
  ['recordTradeWithoutEnvironment', "INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type)\nVALUES (:market_id!, 'buy', :price!, 1, 0, 'manual', 'market');"],
  ['closeAnyPosition', "UPDATE positions SET status = 'closed'\nWHERE id = :id!;"],
  ['deleteAnyTrade', 'DELETE FROM trades WHERE id = :id!;'],
] as const;

function file(queries: readonly (readonly [string, string])[]): { text: string; lines: Map<string, number> } {
  const lines = new Map<string, number>();
  const parts: string[] = [];
  let line = 1;
  for (const [name, sql] of queries) {
    lines.set(name, line + 1);
    parts.push(`/* @name ${name} */\n${sql}\n`);
    line += sql.split('\n').length + 2;
  }
  return { text: parts.join('\n'), lines };
}

describe('codegen: environment classes', () => {
  it('refuses a mode-blind query on a tagged relation in every shape, naming file, line, query, table and the fix, and writes nothing', async () => {
    const { text, lines } = file(MODE_BLIND);
    const outDir = join(scratch, 'mode-blind-out');
    const error = await codegen(testServer(), { sqlDir: sqlDir('mode-blind', text), outDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodegenError);
    const problems = (error as CodegenError).problems;
    // Where each problem points: its query's first line, or the line of the reference within it.
    const found = problems.map((p) => `${p.path.split('/').at(-1)}:${p.query} ${/^(\w+ \w+ \w+)/.exec(p.message)?.[1]}`);
    expect(found).toEqual([
      'mode-blind.sql:listAllTrades reads trades without',
      'mode-blind.sql:listTradesOrAll reads trades without',
      'mode-blind.sql:listTradesInTwo reads trades without',
      'mode-blind.sql:listTradesAnyOfTwo reads trades without',
      'mode-blind.sql:listTradesWithPositions reads positions without',
      'mode-blind.sql:listTradesOfOpenPositions reads positions without',
      'mode-blind.sql:listOpenPositionIds reads positions without',
      'mode-blind.sql:listTradeAndPositionIds reads positions without',
      'mode-blind.sql:listLiveTradesPartition reads trades without', // a partition is judged as its root
      'mode-blind.sql:listPaperTradesView reads paper_trades without',
      'mode-blind.sql:recordTradeWithoutEnvironment inserts into trades',
      'mode-blind.sql:closeAnyPosition changes positions without',
      'mode-blind.sql:deleteAnyTrade changes trades without',
    ]);
    const lineOf = (query: string) => problems.find((p) => p.query === query)!.line;
    expect(lineOf('listAllTrades')).toBe(lines.get('listAllTrades'));
    expect(lineOf('listTradesWithPositions')).toBe(lines.get('listTradesWithPositions')! + 1); // the JOIN line
    expect(lineOf('listTradesOfOpenPositions')).toBe(lines.get('listTradesOfOpenPositions')! + 2); // the subquery's line
    expect(lineOf('listOpenPositionIds')).toBe(lines.get('listOpenPositionIds')! + 1); // inside the CTE
    expect(lineOf('listTradeAndPositionIds')).toBe(lines.get('listTradeAndPositionIds')! + 2); // the UNION's branch
    const message = (error as CodegenError).message;
    expect(message).toContain(`mode-blind.sql:${lines.get('listTradesWithPositions')! + 1}:6 query listTradesWithPositions: reads positions`);
    expect(message).toContain('add `AND p.execution_environment = :execution_environment!`');
    expect(message).toContain('use a single-environment view');
    expect(message).toContain('`-- cross-environment: <reason>`');
    expect(message).toContain('list execution_environment among the columns with the value :execution_environment!');
    expect(() => readdirSync(outDir)).toThrow(); // all or nothing
  });

  it('classes the pinned forms scoped, shared tables shared, and marked queries cross, in the generated definitions', async () => {
    const queries = [
      ['listTradesInOne', 'SELECT id, execution_environment FROM trades WHERE execution_environment IN (:execution_environment!);'],
      ['getTradeByRow', 'SELECT id, execution_environment FROM trades t\nWHERE (t.id, t.execution_environment) = (:id!, :execution_environment!);'],
      ['listTradesWithPositionsUsing', 'SELECT t.id, p.position_key FROM trades t\nJOIN positions p USING (execution_environment)\nWHERE t.execution_environment = :execution_environment! AND p.id = t.position_id;'],
      ['listTradesUsingSeveral', 'SELECT t.id FROM trades t\nJOIN positions p USING (market_id, execution_environment)\nWHERE p.execution_environment = :execution_environment!;'],
      ['listTradesAnyOfOne', 'SELECT id FROM trades WHERE execution_environment = ANY(ARRAY[:execution_environment!]::execution_environment[]);'],
      ['countTradesHaving', 'SELECT execution_environment, count(*) AS "trades!" FROM trades\nGROUP BY execution_environment\nHAVING execution_environment = :execution_environment!;'],
      ['listTradeAndPositionIds', 'SELECT id FROM trades WHERE execution_environment = :execution_environment!\nUNION\nSELECT id FROM positions WHERE execution_environment = :execution_environment!;'],
      ['listPartition', 'SELECT id FROM trades_paper WHERE execution_environment = :execution_environment!;'],
      ['recordTradeScoped', "INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_environment)\nVALUES (:market_id!, 'buy', :price!, 1, 0, 'manual', 'market', :execution_environment!)\nRETURNING id, execution_environment;"],
      ['closePositionScoped', "UPDATE positions SET status = 'closed'\nWHERE id = :id! AND execution_environment = :execution_environment!;"],
      ['getMarket', 'SELECT id FROM markets WHERE ticker = :ticker!;'],
      ['echoEnvironment', 'SELECT :execution_environment!::execution_environment AS "execution_environment!";'],
      ['countAllTrades', '-- cross-environment: counts every environment on purpose\nSELECT execution_environment, count(*) AS "trades!" FROM trades GROUP BY execution_environment;'],
      ['listPaperTradesView', '-- cross-environment: the paper view on its own\n-- environments: paper\nSELECT id AS "id!", execution_environment AS "execution_environment!" FROM paper_trades;'],
    ] as const;
    const outDir = join(scratch, 'classes-out');
    await codegen(testServer(), { sqlDir: sqlDir('classes', file(queries).text), outDir, docsDir: join(scratch, 'classes-docs') });
    const generated = readFileSync(join(outDir, 'classes.ts'), 'utf8');
    const classes = Object.fromEntries([...generated.matchAll(/^export const (\w+) = defineQuery<.*, "(\w+)", "\w+">/gm)].map((m) => [m[1], m[2]]));
    expect(classes).toEqual({
      listTradesInOne: 'scoped',
      getTradeByRow: 'scoped',
      listTradesWithPositionsUsing: 'scoped',
      listTradesUsingSeveral: 'scoped',
      listTradesAnyOfOne: 'scoped',
      countTradesHaving: 'scoped',
      listTradeAndPositionIds: 'scoped',
      listPartition: 'scoped',
      recordTradeScoped: 'scoped',
      closePositionScoped: 'scoped',
      getMarket: 'shared',
      echoEnvironment: 'scoped', // takes the parameter: bound by a scope, even with no tagged relation
      countAllTrades: 'cross',
      listPaperTradesView: 'cross',
    });
    expect(generated).toContain('environment: "scoped",');
    expect(generated).toMatch(/defineQuery<ListPaperTradesViewParams, ListPaperTradesViewResult, "paper", "cross", "many">/);
  });

  it('reads the tagged relations from the catalog: every relation with the column, partitioned tables by their root', async () => {
    const server = testServer();
    // The shared database, read only: a session on the template would make every clone made
    // meanwhile (other files' databases) fail with "source database is being accessed by other users".
    const client = await connect(server, inject('shared'));
    try {
      const { tagged, partitionRoots } = await taggedRelations(client);
      const { rows } = await client.query<{ table_name: string; partition: boolean }>(
        `SELECT c.table_name, coalesce(k.relispartition, false) AS partition
           FROM information_schema.columns c
           LEFT JOIN pg_class k ON k.oid = format('%I.%I', c.table_schema, c.table_name)::regclass
          WHERE c.table_schema = 'public' AND c.column_name = 'execution_environment'`,
      );
      expect([...tagged].sort()).toEqual(rows.filter((row) => !row.partition).map((row) => row.table_name).sort());
      expect([...partitionRoots.keys()].sort()).toEqual(rows.filter((row) => row.partition).map((row) => row.table_name).sort());
      for (const root of partitionRoots.values()) expect(tagged).toContain(root);
    } finally {
      await client.end();
    }
  });

  it('knows the tables with the column that are not declared (codegen refuses a query of one, as check and review do)', async () => {
    await withRollback(async (client) => {
      await client.query('CREATE TABLE fills_undeclared (id integer, execution_environment execution_environment NOT NULL)');
      const { tagged, undeclared } = await taggedRelations(client);
      expect([...undeclared!]).toEqual(['fills_undeclared']);
      expect(tagged).toContain('fills_undeclared');
    });
  });
});
