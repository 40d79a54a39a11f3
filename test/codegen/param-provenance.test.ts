/** Which column a parameter stands for, through the real PostgreSQL parser (libpg-query). */
import { beforeAll, expect, it } from 'vitest';
import { paramColumns } from '../../src/codegen/param-provenance.js';
import { replacePlaceholders } from '../../src/lint/sql-queries.js';
import { parserReady, parseStatements } from '../../src/parser/pg-ast.js';

beforeAll(() => parserReady());

function provenance(sql: string): Record<string, string[]> {
  const { sql: text, params } = replacePlaceholders(sql);
  const [statement] = parseStatements(text);
  return Object.fromEntries([...paramColumns(statement!.stmt, params)].map(([name, refs]) => [name, refs.map((r) => `${r.table}.${r.column}`)]));
}

it('follows comparisons: qualified, unqualified with one table, ANY, IN, through casts', () => {
  expect(provenance('SELECT 1 FROM positions p JOIN trades t ON t.position_id = p.id WHERE p.id = :id::int AND t.id = ANY(:trade_ids::int[])')).toEqual({
    id: ['positions.id'],
    trade_ids: ['trades.id'],
  });
  expect(provenance('SELECT 1 FROM trades WHERE position_id IN (:a, :b)')).toEqual({ a: ['trades.position_id'], b: ['trades.position_id'] });
});

it('does not guess: an unqualified column beside a CTE or a second table is not attributed', () => {
  expect(provenance('WITH c AS (SELECT 1 AS x) SELECT 1 FROM trades, c WHERE position_id = :id')).toEqual({});
  expect(provenance('SELECT 1 FROM trades t, positions p WHERE id = :id')).toEqual({});
  // A CTE named like a table is the CTE.
  expect(provenance('WITH trades AS (SELECT 1 AS id) SELECT 1 FROM trades WHERE id = :id')).toEqual({});
});

it('follows writes: INSERT VALUES, INSERT SELECT from an unnest of arrays, UPDATE SET', () => {
  expect(provenance('INSERT INTO trades (market_id, position_id) VALUES (:market_id, :position_id)')).toEqual({
    market_id: ['trades.market_id'],
    position_id: ['trades.position_id'],
  });
  expect(
    provenance(
      'INSERT INTO trades (position_id, order_id) SELECT f.position_id, f.order_id FROM unnest(:position_ids::int[], :order_ids::text[]) AS f (position_id, order_id)',
    ),
  ).toEqual({ position_ids: ['trades.position_id'], order_ids: ['trades.order_id'] });
  expect(provenance('UPDATE positions SET position_key = :key WHERE id = :id')).toEqual({ key: ['positions.position_key'], id: ['positions.id'] });
});

it('sees subqueries in their own scope, with the outer tables behind them', () => {
  expect(provenance('SELECT 1 FROM trades t WHERE EXISTS (SELECT 1 FROM positions p WHERE p.id = t.position_id AND t.id = :trade_id)')).toEqual({
    trade_id: ['trades.id'],
  });
});

it('follows a parameter through coalesce, NULLIF, greatest, CASE, casts and ARRAY[...] to the column it lands in', () => {
  expect(provenance('UPDATE orders SET position_id = coalesce(:position_id, position_id) WHERE id = :id')).toEqual({
    position_id: ['orders.position_id'],
    id: ['orders.id'],
  });
  expect(provenance('INSERT INTO trades (position_id) VALUES (NULLIF(:position_id::int, 0))')).toEqual({ position_id: ['trades.position_id'] });
  expect(provenance('UPDATE trades SET position_id = CASE WHEN :keep THEN position_id ELSE :other::int END')).toEqual({ other: ['trades.position_id'] });
  expect(provenance('SELECT 1 FROM trades WHERE position_id = coalesce(:a, :b)')).toEqual({ a: ['trades.position_id'], b: ['trades.position_id'] });
  expect(provenance('SELECT 1 FROM trades WHERE position_id = ANY(ARRAY[:a, :b]::int[])')).toEqual({ a: ['trades.position_id'], b: ['trades.position_id'] });
  expect(provenance('SELECT 1 FROM trades WHERE coalesce(position_id, 0) = :a')).toEqual({ a: ['trades.position_id'] });
  expect(provenance('SELECT 1 FROM trades WHERE NULLIF(position_id, :a) IS NULL')).toEqual({ a: ['trades.position_id'] });
  expect(provenance('SELECT CASE position_id WHEN :a THEN 1 END AS x FROM trades')).toEqual({ a: ['trades.position_id'] });
});

it('does not follow a parameter into what only decides (a CASE condition, a comparison with an expression)', () => {
  expect(provenance('UPDATE trades SET position_id = CASE WHEN :keep THEN position_id END')).toEqual({});
  expect(provenance('SELECT 1 FROM trades WHERE position_id + 1 = :a')).toEqual({});
});
