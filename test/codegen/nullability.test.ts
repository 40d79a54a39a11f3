/**
 * Nullability without hints: each inference rule of src/codegen/nullability.ts on a query of its
 * own, with the type expected for every column; hints still override.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codegen } from '../../src/codegen/codegen.js';
import { pascalCase } from '../../src/codegen/emit.js';
import { testServer } from '../support/db.js';

const scratch = mkdtempSync(join(tmpdir(), 'precog-nullability-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** [name, statement, expected result fields]. */
const CASES: [string, string, Record<string, string>][] = [
  ['leftJoin', 'SELECT m.id, g.espn_event_id, g.home_score FROM markets m LEFT JOIN game_states g ON g.id = m.id;',
    { id: 'number', espn_event_id: 'string | null', home_score: 'number | null' }],
  ['rightJoin', 'SELECT m.id, g.espn_event_id FROM markets m RIGHT JOIN game_states g ON g.id = m.id;',
    { id: 'number | null', espn_event_id: 'string' }],
  ['fullJoin', 'SELECT m.id, g.espn_event_id FROM markets m FULL JOIN game_states g ON g.id = m.id;',
    { id: 'number | null', espn_event_id: 'string | null' }],
  ['innerJoin', 'SELECT m.id, g.espn_event_id FROM markets m JOIN game_states g ON g.id = m.id;',
    { id: 'number', espn_event_id: 'string' }],
  ['leftJoinLateral', 'SELECT m.id, later.ticker FROM markets m LEFT JOIN LATERAL (SELECT n.ticker FROM markets n WHERE n.id > m.id LIMIT 1) later ON true;',
    { id: 'number', ticker: 'string | null' }],
  ['aggregates', 'SELECT count(*) AS n, count(yes_price) AS priced, sum(id) AS total, max(ticker) AS last FROM markets;',
    { n: 'bigint', priced: 'bigint', total: 'bigint | null', last: 'string | null' }],
  ['groupedAggregates', "SELECT status, sum(id) AS total, max(yes_price) AS top, max(nullif(ticker, '')) AS blank, sum(id) FILTER (WHERE id > 1) AS some FROM markets GROUP BY status;",
    { status: 'MarketStatus', total: 'bigint', top: 'Decimal', blank: 'string | null', some: 'bigint | null' }],
  ['enumLabels', 'SELECT unnest(enum_range(NULL::execution_environment)) AS environment;', { environment: 'ExecutionEnvironment' }],
  ['coalesceWithNonNull', 'SELECT coalesce(sum(id), 0) AS total, coalesce(max(ticker), min(ticker)) AS either FROM markets;',
    { total: 'bigint', either: 'string | null' }],
  ['caseBranches', "SELECT CASE WHEN id > 1 THEN 'big' ELSE 'small' END AS size, CASE WHEN id > 1 THEN 'big' END AS maybe_size FROM markets;",
    { size: 'string', maybe_size: 'string | null' }],
  ['literalsAndArithmetic', "SELECT 1 AS one, 'x' AS letter, id * 2 + 1 AS doubled, id + NULL::int AS nothing, now() AS at FROM markets;",
    { one: 'number', letter: 'string', doubled: 'number', nothing: 'number | null', at: 'Date' }],
  ['parameters', 'SELECT :required!::int AS required, :optional::int AS optional, coalesce(:optional::int, 0) AS defaulted;',
    { required: 'number', optional: 'number | null', defaulted: 'number' }],
  ['viewColumns', "-- cross-environment: a view of two environments\n-- environments: paper, backtest\nSELECT id, position_id, price, execution_environment FROM training_data_trades;",
    { id: "Id<'trades'>", position_id: "Id<'positions'> | null", price: 'Decimal', execution_environment: 'ExecutionEnvironment' }],
  ['cteAndSubquery', 'WITH counted AS (SELECT count(*) AS n FROM markets) SELECT counted.n, (SELECT max(id) FROM markets) AS top, s.id FROM counted, (SELECT id FROM markets) s;',
    { n: 'bigint', top: 'number | null', id: 'number' }],
  ['insertReturning', "INSERT INTO strategies (strategy_name, strategy_version) VALUES (:name!, '1') RETURNING strategy_id, description, upper(strategy_name) AS shout;",
    { strategy_id: 'number', description: 'string | null', shout: 'string' }],
  ['jsonPath', "SELECT config->>'x' AS x FROM strategies;", { x: 'string | null' }],
  ['hintsOverride', 'SELECT m.id AS "id?", g.espn_event_id AS "espn_event_id!" FROM markets m LEFT JOIN game_states g ON g.id = m.id;',
    { id: 'number | null', espn_event_id: 'string' }],
  ['windowOverCurrentRow', 'SELECT sum(id) OVER (ORDER BY id) AS running, sum(id) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING) AS before FROM markets;',
    { running: 'bigint', before: 'bigint | null' }],
];

describe('nullability inference', () => {
  it('types every column of every rule as expected', async () => {
    const dir = join(scratch, 'sql');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'rules.sql'), CASES.map(([name, sql]) => `/* @name ${name} */\n${sql}\n`).join('\n'));
    const outDir = join(scratch, 'out');
    await codegen(testServer(), { sqlDir: dir, outDir, docsDir: join(scratch, 'docs') });
    const generated = readFileSync(join(outDir, 'rules.ts'), 'utf8');
    const actual = Object.fromEntries(CASES.map(([name]) => {
      const body = new RegExp(`export interface ${pascalCase(name)}Result \\{\\n([\\s\\S]*?)\\n\\}`).exec(generated)?.[1] ?? '';
      return [name, Object.fromEntries([...body.matchAll(/^ {2}(\w+): (.*);$/gm)].map((m) => [m[1], m[2]]))];
    }));
    expect(actual).toEqual(Object.fromEntries(CASES.map(([name, , expected]) => [name, expected])));
  });

  it('requires a parameter written into a NOT NULL column without `!` (INSERT ... VALUES, UPDATE ... SET)', async () => {
    const dir = join(scratch, 'params-sql');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'params.sql'), [
      '/* @name createStrategy */',
      'INSERT INTO strategies (strategy_name, strategy_version, description) VALUES (:name, :version::text, :description) RETURNING strategy_id;',
      '/* @name renameStrategy */',
      'UPDATE strategies SET strategy_name = :name, description = :description WHERE strategy_id = :id! RETURNING strategy_id;',
      '',
    ].join('\n'));
    const outDir = join(scratch, 'params-out');
    await codegen(testServer(), { sqlDir: dir, outDir, docsDir: join(scratch, 'params-docs') });
    const generated = readFileSync(join(outDir, 'params.ts'), 'utf8');
    expect(generated).toContain('export interface CreateStrategyParams {\n  name: string;\n  version: string;\n  description?: string | null;\n}');
    expect(generated).toContain('export interface RenameStrategyParams {\n  name: string;\n  description?: string | null;\n  id: number;\n}');
    // ... and refused at run time too, as a `!` parameter is.
    expect(generated).toMatch(/params: \[\{"name":"name","type":"text","required":true\}/);
  });
});
