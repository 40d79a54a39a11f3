/**
 * Query files as a pgtyped user writes them: PascalCase or camelCase names (the function is
 * camelCase either way), and how many rows each query returns (annotated, or inferred from
 * the statement and the catalog's keys), checked at run time.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codegen } from '../../src/codegen/codegen.js';
import { functionName } from '../../src/codegen/load-queries.js';
import { CodegenError } from '../../src/codegen/problems.js';
import { CardinalityError, defineQuery, shapeRows } from '../../src/runtime/query.js';
import { testServer, withRollback } from '../support/db.js';

const scratch = mkdtempSync(join(tmpdir(), 'precog-pgtyped-style-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function generate(name: string, text: string): Promise<string> {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.sql`), text);
  const outDir = join(scratch, `${name}-out`);
  await codegen(testServer(), { sqlDir: dir, outDir, docsDir: join(scratch, `${name}-docs`) });
  return readFileSync(join(outDir, `${name}.ts`), 'utf8');
}

const cardinalities = (generated: string) =>
  Object.fromEntries([...generated.matchAll(/^export const (\w+) = defineQuery<.*, "(\w+)">/gm)].map((m) => [m[1], m[2]]));

describe('query names', () => {
  it('derive the function name as pgtyped does', () => {
    expect(functionName('FindBookById')).toBe('findBookById');
    expect(functionName('findBookById')).toBe('findBookById');
    expect(functionName('find_book_by_id')).toBe('findBookById');
  });

  it('accepts PascalCase names and exports camelCase functions with PascalCase types', async () => {
    const generated = await generate('names', [
      '/* @name FindMarketByTicker */',
      'SELECT id, ticker FROM markets WHERE ticker = :ticker! AND row_current_ind;',
      '',
      '/* @name listMarkets */',
      'SELECT id FROM markets;',
      '',
    ].join('\n'));
    expect(generated).toContain('export const findMarketByTicker = defineQuery<FindMarketByTickerParams, FindMarketByTickerResult');
    expect(generated).toContain('export const listMarkets = defineQuery<ListMarketsParams');
  });

  it('refuses a collision of function names and a name that is no identifier, at once', async () => {
    const error = await generate('collide', [
      '/* @name FindMarket */',
      'SELECT id FROM markets WHERE id = :id!;',
      '',
      '/* @name findMarket */',
      'SELECT id FROM markets WHERE id = :id!;',
      '',
      '/* @name delete */',
      'SELECT id FROM markets;',
      '',
    ].join('\n')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodegenError);
    const message = (error as CodegenError).message;
    expect(message).toContain('query findMarket: the function name findMarket is already used by @name FindMarket');
    expect(message).toContain('query delete: a query name must be a JavaScript identifier');
  });
});

describe('cardinality', () => {
  it('is inferred from keys, single-row inserts, aggregates and LIMIT 1, and annotations override it', async () => {
    const generated = await generate('cardinality', [
      '/* @name GetMarketById */',
      'SELECT id, ticker FROM markets WHERE id = :id!;',
      '/* @name GetCurrentMarketByTicker */',
      'SELECT id FROM markets m WHERE m.ticker = :ticker! AND m.row_current_ind;',
      '/* @name ListMarketVersionsByTicker */',
      'SELECT id FROM markets WHERE ticker = :ticker!;',
      '/* @name GetTradeByRow */',
      'SELECT id, execution_environment FROM trades t WHERE (t.id, t.execution_environment) = (:id!, :execution_environment!);',
      '/* @name GetTradeWithoutEnvironment */',
      '-- cross-environment: the key is (id, execution_environment): one id may be in several environments',
      'SELECT id, execution_environment FROM trades WHERE id = :id!;',
      '/* @name CountMarkets */',
      'SELECT count(*) AS n FROM markets;',
      '/* @name CountMarketsByStatus */',
      'SELECT status, count(*) AS n FROM markets GROUP BY status;',
      '/* @name GetLatestMarket */',
      'SELECT id FROM markets ORDER BY id DESC LIMIT 1;',
      '/* @name CreateStrategy */',
      "INSERT INTO strategies (strategy_name, strategy_version) VALUES (:name!, '1') RETURNING strategy_id;",
      '/* @name CreateStrategyIfNew */',
      "INSERT INTO strategies (strategy_name, strategy_version) VALUES (:name!, '1') ON CONFLICT DO NOTHING RETURNING strategy_id;",
      '/* @name CreateStrategies */',
      "INSERT INTO strategies (strategy_name, strategy_version) VALUES (:a!, '1'), (:b!, '1') RETURNING strategy_id;",
      '/* @name CreateStrategyUnlessNamed */',
      "INSERT INTO strategies (strategy_name, strategy_version) SELECT :name!, '1' WHERE NOT EXISTS (SELECT FROM strategies WHERE strategy_name = :name!) RETURNING strategy_id;",
      '/* @name RenameMarket */',
      'UPDATE markets SET title = :title! WHERE id = :id! RETURNING id;',
      '/* @name ListMarketsAnnotatedOne */',
      '-- @returns one',
      'SELECT id FROM markets ORDER BY id LIMIT 1;',
      '/* @name GetMarketAnnotatedMany */',
      '-- @many',
      'SELECT id FROM markets WHERE id = :id!;',
      '/* @name GetMarketAnnotatedMaybe */',
      '-- @returns maybe',
      'SELECT id FROM markets WHERE ticker = :ticker!;',
      '',
    ].join('\n'));
    expect(cardinalities(generated)).toEqual({
      getMarketById: 'maybe',
      getCurrentMarketByTicker: 'maybe',
      listMarketVersionsByTicker: 'many',
      getTradeByRow: 'maybe',
      getTradeWithoutEnvironment: 'many',
      countMarkets: 'one',
      countMarketsByStatus: 'many',
      getLatestMarket: 'maybe',
      createStrategy: 'one',
      createStrategyIfNew: 'maybe',
      createStrategies: 'many',
      createStrategyUnlessNamed: 'maybe',
      renameMarket: 'maybe',
      listMarketsAnnotatedOne: 'one',
      getMarketAnnotatedMany: 'many',
      getMarketAnnotatedMaybe: 'maybe',
    });
    expect(generated).toContain('/** One row returned by `getMarketById` (at most one row: the function returns it or undefined). */');
  });

  it('one throws a typed error naming the query on 0 or 2+ rows; maybe on 2+', async () => {
    const ir = (statement: string) => ({ statement, usedParamSet: {}, params: [] });
    const one = defineQuery<void, { n: number }, never, 'shared', 'one'>({
      name: 'getSeries', file: 'test.sql', params: [], renamedColumns: {}, environment: 'shared', returns: 'one',
      ir: ir('SELECT n FROM generate_series(1, 2) n'),
    });
    const maybe = defineQuery<void, { n: number }, never, 'shared', 'maybe'>({
      name: 'findNothing', file: 'test.sql', params: [], renamedColumns: {}, environment: 'shared', returns: 'maybe',
      ir: ir('SELECT 1 AS n WHERE false'),
    });
    await withRollback(async (db) => {
      const error = await one.run(undefined, db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CardinalityError);
      expect(error).toMatchObject({ query: 'getSeries', expected: 'one', rows: 2, message: 'getSeries: expected exactly one row, got 2' });
      expect(await maybe.run(undefined, db)).toBeUndefined();
    });
    expect(() => shapeRows({ name: 'getNone', returns: 'one' }, [])).toThrow('getNone: expected exactly one row, got 0');
    expect(() => shapeRows({ name: 'getTwo', returns: 'maybe' }, [{}, {}])).toThrow('getTwo: expected at most one row, got 2');
    expect(shapeRows({ name: 'listAll', returns: 'many' }, [])).toEqual([]);
  });
});
