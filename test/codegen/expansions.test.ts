/**
 * pgtyped's parameter expansions, written as a pgtyped user writes them: array spread
 * `@param ids -> (...)`, pick `@param strategy -> (name!, version!, description)` and array of
 * picks `@param strategies -> ((name!, version!, description)...)` for multi-row inserts. Each
 * picked field keeps its own `!`, lists accept readonly arrays, an empty list is refused before
 * the query is sent; a scoped multi-row insert takes execution_environment from the scope.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codegen } from '../../src/codegen/codegen.js';
import { CodegenError } from '../../src/codegen/problems.js';
import { PROJECT_ROOT } from '../../src/project.js';
import { InvalidValueError } from '../../src/runtime/errors.js';
import type { Query } from '../../src/runtime/query.js';
import { testServer, withRollback } from '../support/db.js';
import { unique } from '../queries/fixtures.js';

// Beside src/, so the generated imports (../src/runtime/...) resolve as they do from generated/.
const outDir = join(PROJECT_ROOT, `.expansions-${process.pid}`);
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const SQL = `
/*
  @name FindStrategiesByIds
  @param ids -> (...)
*/
SELECT strategy_id, strategy_name FROM strategies WHERE strategy_id IN :ids! ORDER BY strategy_id;

/*
  @name CreateStrategy
  @param strategy -> (name!, version!, description)
*/
INSERT INTO strategies (strategy_name, strategy_version, description) VALUES :strategy
RETURNING strategy_id, strategy_name, description;

/*
  @name CreateStrategies
  @param strategies -> ((name!, version!, description)...)
*/
INSERT INTO strategies (strategy_name, strategy_version, description) VALUES :strategies
RETURNING strategy_id, strategy_name, description;

/*
  @name RecordFills
  @param fills -> ((market_id!, side!, price!, quantity!, fees!, trade_source!, order_type!, execution_environment)...)
*/
INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
VALUES :fills
RETURNING id, market_id, price, execution_environment;
`;

let generated = '';
let module: Record<string, Query<any, any, any, any, any>>;

beforeAll(async () => {
  const sqlDir = join(outDir, 'sql');
  mkdirSync(sqlDir, { recursive: true });
  writeFileSync(join(sqlDir, 'expansions.sql'), SQL);
  await codegen(testServer(), { sqlDir, outDir, docsDir: join(outDir, 'docs') });
  generated = readFileSync(join(outDir, 'expansions.ts'), 'utf8');
  module = await import(join(outDir, 'expansions.ts'));
});

describe('pgtyped expansions', () => {
  it('are typed per element and per picked field', () => {
    expect(generated).toContain('ids: readonly number[];');
    expect(generated).toContain('strategy: { name: string; version: string; description?: string | null };');
    expect(generated).toContain('strategies: readonly { name: string; version: string; description?: string | null }[];');
    expect(generated).toMatch(/fills: readonly \{ market_id: string; side: TradeSide; price: Decimal; quantity: number; fees: Decimal; trade_source: TradeSource; order_type: OrderType; execution_environment\?: ExecutionEnvironment \| null \}\[\];/);
    expect(generated).toMatch(/export const recordFills = defineQuery<RecordFillsParams, RecordFillsResult, never, "scoped", "many">/);
    expect(generated).toMatch(/export const createStrategy = defineQuery<.*, "shared", "one">/);
  });

  it('run: a spread list, a pick and an array of picks (multi-row insert)', async () => {
    await withRollback(async (db) => {
      const name = unique('STRAT');
      const one = await module.createStrategy!.run({ strategy: { name, version: '1' } }, db);
      expect(one).toMatchObject({ strategy_name: name, description: null });
      const many = await module.createStrategies!.run(
        { strategies: [{ name, version: '2', description: 'second' }, { name, version: '3' }] as const },
        db,
      );
      expect(many.map((row: { description: string | null }) => row.description)).toEqual(['second', null]);
      const ids = [one.strategy_id, ...many.map((row: { strategy_id: number }) => row.strategy_id)] as const;
      const found = await module.findStrategiesByIds!.run({ ids }, db);
      expect(found.map((row: { strategy_id: number }) => row.strategy_id)).toEqual([...ids].sort((a, b) => a - b));
    });
  });

  it('refuse an empty list and a missing ! field before the query is sent, naming the parameter', async () => {
    const db = { query: () => Promise.reject(new Error('sent')) };
    await expect(module.findStrategiesByIds!.run({ ids: [] }, db)).rejects.toThrow(InvalidValueError);
    await expect(module.findStrategiesByIds!.run({ ids: [] }, db)).rejects.toThrow('findStrategiesByIds: ids must not be empty');
    await expect(module.createStrategies!.run({ strategies: [] }, db)).rejects.toThrow('createStrategies: strategies must not be empty');
    await expect(module.createStrategies!.run({ strategies: [{ name: 'a', version: null }] }, db)).rejects.toThrow(
      'createStrategies: strategies[0].version is required',
    );
  });

  it('a multi-row insert of a tagged table takes the environment of its statement in every row', async () => {
    await withRollback(async (db) => {
      const market = unique('MKT-FILLS');
      const rows = await module.recordFills!.run(
        {
          execution_environment: 'paper',
          fills: [
            { market_id: market, side: 'buy', price: new Decimal('0.40'), quantity: 1, fees: new Decimal(0), trade_source: 'manual', order_type: 'limit' },
            { market_id: market, side: 'sell', price: new Decimal('0.45'), quantity: 2, fees: new Decimal(0), trade_source: 'manual', order_type: 'limit' },
          ],
        },
        db,
      );
      expect(rows.map((row: { execution_environment: string }) => row.execution_environment)).toEqual(['paper', 'paper']);
    });
  });

  it('refuses :execution_environment as an expansion', async () => {
    const sqlDir = join(outDir, 'bad');
    mkdirSync(sqlDir, { recursive: true });
    writeFileSync(join(sqlDir, 'bad.sql'), '/*\n  @name ListTradesIn\n  @param execution_environment -> (...)\n*/\nSELECT id FROM trades WHERE execution_environment IN :execution_environment;\n');
    const error = await codegen(testServer(), { sqlDir, outDir: join(outDir, 'bad-out'), docsDir: join(outDir, 'bad-docs') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodegenError);
    expect((error as CodegenError).message).toContain(':execution_environment is bound by the scope: it cannot be an expansion');
  });
});

