/**
 * The environment-binding analysis on SQL text: which reads and writes of environment-tagged relations
 * are pinned to :execution_environment, and which columns each parameter meets. The tagged
 * relations here are an input of the analysis (codegen reads them from the catalog).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { analyseQuery } from '../../src/environment/environment-binding.js';
import { queryBlocks } from '../../src/lint/sql-queries.js';
import { parserReady, parseStatements } from '../../src/parser/pg-ast.js';

const TAGGED = new Set(['trades', 'positions']);

beforeAll(() => parserReady());

function analyse(sql: string) {
  const [block] = queryBlocks(`/* @name q */\n${sql}`);
  return analyseQuery(parseStatements(block!.sql)[0]!.stmt, block!.params, TAGGED);
}
const unscoped = (sql: string) => analyse(sql).unscoped.map((ref) => `${ref.kind} ${ref.table}`);

describe('query scope: mode-blind reads and writes are found', () => {
  const refused: [string, string, string[]][] = [
    ['no WHERE', 'SELECT id FROM trades', ['read trades']],
    ['another parameter', 'SELECT id FROM trades WHERE execution_environment = :environment!', ['read trades']],
    ['OR-ed condition', 'SELECT id FROM trades WHERE execution_environment = :execution_environment OR :execution_environment IS NULL', ['read trades']],
    ['IN with a second element', "SELECT id FROM trades WHERE execution_environment IN (:execution_environment!, 'live')", ['read trades']],
    ['IN with two parameters', 'SELECT id FROM trades WHERE execution_environment IN (:execution_environment!, :other!)', ['read trades']],
    ['ANY of a two-element array', "SELECT id FROM trades WHERE execution_environment = ANY(ARRAY[:execution_environment!, 'paper'])", ['read trades']],
    ['ANY of an array parameter', 'SELECT id FROM trades WHERE execution_environment = ANY(:environments!)', ['read trades']],
    ['a row comparison with <>', 'SELECT id FROM trades t WHERE (t.id, t.execution_environment) <> (:id!, :execution_environment!)', ['read trades']],
    ['join, one side unpinned', 'SELECT t.id FROM trades t JOIN positions p ON p.id = t.position_id WHERE t.execution_environment = :execution_environment!', ['read positions']],
    ['subquery unpinned', 'SELECT id FROM trades WHERE execution_environment = :execution_environment! AND position_id IN (SELECT id FROM positions)', ['read positions']],
    ['CTE unpinned', 'WITH p AS (SELECT id FROM positions) SELECT p.id FROM p', ['read positions']],
    ['UNION branch', 'SELECT id FROM trades WHERE execution_environment = :execution_environment! UNION SELECT id FROM positions', ['read positions']],
    ['UNION ALL, left branch', 'SELECT id FROM trades UNION ALL SELECT id FROM trades WHERE execution_environment = :execution_environment!', ['read trades']],
    ['INTERSECT', 'SELECT id FROM trades WHERE execution_environment = :execution_environment! INTERSECT SELECT id FROM trades', ['read trades']],
    ['EXCEPT', 'SELECT id FROM trades WHERE execution_environment = :execution_environment! EXCEPT SELECT id FROM trades', ['read trades']],
    ['nested set operation', 'SELECT 1 AS x FROM markets UNION (SELECT 2 FROM markets EXCEPT SELECT 3 FROM positions)', ['read positions']],
    ['set operation in a CTE', 'WITH u AS (SELECT id FROM markets UNION SELECT id FROM trades) SELECT id FROM u', ['read trades']],
    ['set operation in a subquery', 'SELECT id FROM markets WHERE id IN (SELECT 1 FROM markets UNION SELECT id FROM positions)', ['read positions']],
    ['set operation in FROM', 'SELECT x.id FROM (SELECT id FROM positions UNION ALL SELECT id FROM trades WHERE execution_environment = :execution_environment!) x', ['read positions']],
    ['USING with neither side pinned', 'SELECT t.id FROM trades t JOIN positions p USING (execution_environment)', ['read trades', 'read positions']],
    ['HAVING on an ungrouped query', 'SELECT count(*) AS n FROM trades HAVING max(execution_environment) = :execution_environment!', ['read trades']],
    ['the preserved side of a LEFT JOIN', 'SELECT t.id FROM trades t LEFT JOIN markets m ON m.ticker = t.market_id AND t.execution_environment = :execution_environment!', ['read trades']],
    ['pinned only through a LEFT JOIN’s nullable side', 'SELECT t.id FROM trades t LEFT JOIN positions p ON p.execution_environment = :execution_environment! AND p.execution_environment = t.execution_environment', ['read trades']],
    ['NOT EXISTS does not pin the outer rows', 'SELECT t.id FROM trades t WHERE NOT EXISTS (SELECT 1 FROM positions p WHERE p.execution_environment = t.execution_environment AND p.execution_environment = :execution_environment!)', ['read trades']],
    ['a subquery in ORDER BY', 'SELECT id FROM trades t WHERE execution_environment = :execution_environment! ORDER BY (SELECT max(id) FROM positions)', ['read positions']],
    ['a subquery in the ORDER BY of a UNION', 'SELECT id FROM markets UNION SELECT id FROM markets ORDER BY (SELECT max(id) FROM positions)', ['read positions']],
    ['a subquery in RETURNING', 'DELETE FROM trades WHERE id = :id! AND execution_environment = :execution_environment! RETURNING (SELECT count(*) FROM positions) AS n', ['read positions']],
    ['a subquery in ON CONFLICT DO UPDATE', 'INSERT INTO markets (ticker) VALUES (:ticker!) ON CONFLICT (ticker) DO UPDATE SET title = (SELECT max(market_id) FROM trades)', ['read trades']],
    ['INSERT without the environment', 'INSERT INTO trades (price) VALUES (:price!)', ['insert trades']],
    ['INSERT of a constant environment', "INSERT INTO trades (price, execution_environment) VALUES (:price!, 'live')", ['insert trades']],
    ['INSERT, one row of two unpinned', 'INSERT INTO trades (price, execution_environment) VALUES (:price!, :execution_environment!), (:price!, :other!)', ['insert trades']],
    ['INSERT ... SELECT of a UNION with one branch unpinned', "INSERT INTO trades (price, execution_environment) SELECT 1, :execution_environment! UNION ALL SELECT 2, 'live'", ['insert trades']],
    ['INSERT from a CTE whose UNION mixes environments', 'WITH e AS (SELECT :execution_environment! AS env UNION SELECT :other! AS env) INSERT INTO trades (price, execution_environment) SELECT 1, env FROM e', ['insert trades']],
    ['INSERT ... SELECT copying an unpinned row', 'INSERT INTO positions (id, execution_environment) SELECT id + 1, execution_environment FROM positions WHERE id = :id!', ['read positions', 'insert positions']],
    ['MERGE, which the analysis does not model', 'MERGE INTO positions p USING trades t ON t.position_id = p.id AND p.execution_environment = :execution_environment! AND t.execution_environment = :execution_environment! WHEN MATCHED THEN DELETE', ['write positions', 'read trades']],
    ['UPDATE unpinned', 'UPDATE positions SET status = :status! WHERE id = :id!', ['write positions']],
    ['DELETE unpinned', 'DELETE FROM trades WHERE id = :id!', ['write trades']],
  ];
  it.each(refused)('%s', (_, sql, expected) => expect(unscoped(sql)).toEqual(expected));
});

describe('query scope: pinned forms are accepted', () => {
  const accepted: [string, string][] = [
    ['= the parameter', 'SELECT id FROM trades WHERE execution_environment = :execution_environment!'],
    ['a cast parameter', 'SELECT id FROM trades WHERE execution_environment = :execution_environment!::execution_environment'],
    ['IN with the parameter alone', 'SELECT id FROM trades WHERE execution_environment IN (:execution_environment!)'],
    ['a row comparison', 'SELECT id FROM trades t WHERE (t.id, t.execution_environment) = (:id!, :execution_environment!)'],
    ['a row comparison with ROW()', 'SELECT id FROM trades t WHERE ROW(t.id, t.execution_environment) = ROW(:id!, :execution_environment!)'],
    ['ANY of a one-element array', 'SELECT id FROM trades WHERE execution_environment = ANY(ARRAY[:execution_environment!])'],
    ['JOIN USING (execution_environment), one side pinned', 'SELECT t.id FROM trades t JOIN positions p USING (execution_environment) WHERE t.execution_environment = :execution_environment!'],
    ['JOIN USING, the merged column pinned', 'SELECT t.id FROM trades t JOIN positions p USING (execution_environment) WHERE execution_environment = :execution_environment!'],
    ['JOIN USING several columns', 'SELECT t.id FROM trades t JOIN positions p USING (market_id, execution_environment) WHERE p.execution_environment = :execution_environment!'],
    ['a chain of USING joins', 'SELECT 1 AS x FROM trades a JOIN positions b USING (execution_environment) JOIN trades c USING (execution_environment) WHERE c.execution_environment = :execution_environment!'],
    ['HAVING on a grouped environment', 'SELECT execution_environment, count(*) AS n FROM trades GROUP BY execution_environment HAVING execution_environment = :execution_environment!'],
    ['every UNION branch pinned', 'SELECT id FROM trades WHERE execution_environment = :execution_environment! UNION SELECT id FROM positions WHERE execution_environment = :execution_environment!'],
    ['pinned set operation in a CTE', 'WITH u AS (SELECT id FROM trades WHERE execution_environment = :execution_environment! EXCEPT SELECT id FROM trades WHERE execution_environment = :execution_environment!) SELECT id FROM u'],
    ['LEFT JOIN, the nullable side pinned by the preserved one', 'SELECT t.id FROM trades t LEFT JOIN positions p ON p.id = t.position_id AND p.execution_environment = t.execution_environment WHERE t.execution_environment = :execution_environment!'],
    ['LEFT JOIN, the nullable side pinned in its ON', 'SELECT t.id FROM trades t LEFT JOIN positions p ON p.execution_environment = :execution_environment! WHERE t.execution_environment = :execution_environment!'],
    ['a correlated subquery pinned by its outer row', 'SELECT t.id FROM trades t WHERE t.execution_environment = :execution_environment! AND EXISTS (SELECT 1 FROM positions p WHERE p.execution_environment = t.execution_environment)'],
    ['a shared table', 'SELECT id FROM markets WHERE ticker = :ticker!'],
    ['INSERT VALUES', 'INSERT INTO trades (price, execution_environment) VALUES (:price!, :execution_environment!) RETURNING id'],
    ['INSERT of two pinned rows', 'INSERT INTO trades (price, execution_environment) VALUES (:price!, :execution_environment!), (:price!, :execution_environment!)'],
    ['INSERT ... SELECT of a UNION, both branches pinned', 'INSERT INTO trades (price, execution_environment) SELECT 1, :execution_environment! UNION ALL SELECT 2, :execution_environment!'],
    ['INSERT ... SELECT FROM unnest', 'INSERT INTO trades (price, execution_environment) SELECT price, :execution_environment! FROM unnest(:prices!::numeric[]) AS fill (price)'],
    ['UPDATE pinned', 'UPDATE positions SET status = :status! WHERE id = :id! AND execution_environment = :execution_environment!'],
    ['DELETE pinned with IN', 'DELETE FROM trades WHERE id = :id! AND execution_environment IN (:execution_environment!)'],
  ];
  it.each(accepted)('%s', (_, sql) => expect(unscoped(sql)).toEqual([]));

  it('accepts the SCD copy-forward, scoped by the CTE that found the row', () => {
    expect(unscoped(`
      WITH current_version AS (
        SELECT id, execution_environment FROM positions
        WHERE position_key = :position_key! AND execution_environment = :execution_environment! FOR UPDATE
      ), closed AS (
        UPDATE positions p SET row_current_ind = false FROM current_version
        WHERE p.id = current_version.id AND p.execution_environment = current_version.execution_environment
        RETURNING p.position_key, p.execution_environment
      )
      INSERT INTO positions (position_key, execution_environment)
      SELECT position_key, execution_environment FROM closed RETURNING id`)).toEqual([]);
  });
});

describe('query scope: parameters and tables', () => {
  const columns = (sql: string) =>
    Object.fromEntries([...analyse(sql).paramColumns].map(([name, list]) => [name, list.map((c) => `${c.table}.${c.column}`)]));

  it('names the columns a parameter is equated to, compared with or written to', () => {
    expect(columns(`
      SELECT t.id FROM trades t JOIN positions p ON p.id = t.position_id
      WHERE t.id = :id! AND t.execution_environment IN (:execution_environment!)
        AND p.id = ANY(:position_ids!::int[]) AND t.market_id IN (:a!, :b!)`)).toEqual({
      id: ['trades.id'],
      execution_environment: ['trades.execution_environment'], // positions is not pinned: not equated
      position_ids: ['positions.id', 'trades.position_id'],
      a: ['trades.market_id'],
      b: ['trades.market_id'],
    });
  });

  it('follows INSERT column lists (VALUES, SELECT, unnest) and UPDATE ... SET', () => {
    expect(columns('INSERT INTO trades (position_id, price, execution_environment) VALUES (:position_id, :price!, :execution_environment!)')).toEqual({
      position_id: ['trades.position_id'], price: ['trades.price'], execution_environment: ['trades.execution_environment'],
    });
    expect(columns(`INSERT INTO trades (position_id, execution_environment)
      SELECT fill.position_id, :execution_environment! FROM unnest(:position_ids!::int[]) AS fill (position_id)`)).toEqual({
      position_ids: ['trades.position_id'], execution_environment: ['trades.execution_environment'],
    });
    expect(columns('UPDATE positions SET current_price = :price! WHERE id = :id! AND execution_environment = :execution_environment!')).toEqual({
      price: ['positions.current_price'], id: ['positions.id'], execution_environment: ['positions.execution_environment'],
    });
  });

  it('lists every base relation with how it is used, tagged or not, and no CTE', () => {
    const { tables } = analyse(`
      WITH m AS (SELECT ticker FROM markets)
      INSERT INTO trades (market_id, execution_environment)
      SELECT m.ticker, :execution_environment! FROM m JOIN game_states g ON true`);
    expect(tables).toEqual([
      { table: 'markets', kind: 'read' },
      { table: 'trades', kind: 'insert' },
      { table: 'game_states', kind: 'read' },
    ]);
  });
});
