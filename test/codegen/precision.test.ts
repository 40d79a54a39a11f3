/**
 * Types no wider than the statement allows, and brands wherever an id lands: codegen over a
 * scratch sql/ folder against the migrated schema.
 * - a parameter that lands in an id column through coalesce, NULLIF, CASE, casts, IN and ANY is
 *   that id (a paper id in a live call does not compile), and a result that aggregates an id
 *   column (array_agg, min, max) is that id;
 * - an aggregate without GROUP BY is one row, wherever the aggregate sits in the select list;
 * - an array's elements are not null where the statement proves it (array_agg of a NOT NULL
 *   column, ARRAY[...] of non-null values), and where precog.config.json declares it, which the
 *   runtime then checks.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentMarketByTicker } from '../../generated/markets.js';
import { codegen } from '../../src/codegen/codegen.js';
import { defineQuery, type QueryDefinition, type Queryable } from '../../src/runtime/query.js';
import { InvalidValueError } from '../../src/runtime/errors.js';
import { readEnvironmentModel, type EnvironmentModel } from '../../src/environment/model.js';
import { testServer, withFreshDatabase } from '../support/db.js';

const QUERIES = `
/* @name moveOrder */
UPDATE orders SET position_id = coalesce(:position_id, position_id)
WHERE id = :id! AND execution_environment = :execution_environment! RETURNING id;

/* @name ordersOf */
SELECT id FROM orders
WHERE execution_environment = :execution_environment!
  AND (position_id = NULLIF(:maybe_position::int, 0) OR position_id IN (:a, :b) OR position_id = ANY(ARRAY[:c, :d]::int[])
       OR position_id = CASE WHEN :flag::boolean THEN :e::int ELSE :f::int END);

/* @name feesOf */
SELECT coalesce(sum(fees), 0) AS fees, count(*) + 0 AS trades FROM trades WHERE execution_environment = :execution_environment!;

/* @name marketsTraded */
SELECT array_agg(market_id) AS markets, array_agg(position_id) AS positions, min(position_id) AS first_position, ARRAY[1, 2] AS pair, ARRAY[1, NULL::int] AS holey
FROM trades WHERE execution_environment = :execution_environment!;

/* @name tagsOf */
SELECT tags, other FROM test_tags;
`;

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'precog-precision-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Fields of `export interface <name> { ... }` in a generated module: name → TypeScript type. */
function interfaceFields(text: string, name: string): Map<string, string> {
  const body = new RegExp(`^export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`, 'm').exec(text)?.[1] ?? '';
  return new Map([...body.matchAll(/^ {2}(\w+)(\??): (.+);$/gm)].map((match) => [match[1]!, `${match[2]}${match[3]!}`]));
}

describe('codegen precision', () => {
  it('brands through expressions, types aggregates as one row, and knows array elements', async () => {
    await withFreshDatabase(async (database, pool) => {
      await pool.query('CREATE TABLE test_tags (id integer PRIMARY KEY, tags text[] NOT NULL, other text[])');
      const model: EnvironmentModel = await readEnvironmentModel(pool);
      const sqlDir = join(scratch, 'sql');
      mkdirSync(sqlDir, { recursive: true });
      writeFileSync(join(sqlDir, 'precision.sql'), QUERIES);
      const configPath = join(scratch, 'precog.config.json');
      writeFileSync(configPath, JSON.stringify({ nonNullElements: ['test_tags.tags'] }));
      const outDir = join(scratch, 'generated');
      await codegen(testServer(), { database, reuseDatabase: true, sqlDir, outDir, docsDir: scratch, configPath });
      const text = readFileSync(join(outDir, 'precision.ts'), 'utf8');

      // The brand of the column each parameter lands in, from the model (not written here).
      const position = model.identifyColumn('orders', 'position_id')!;
      const positionId = `${position.kind === 'id' ? 'Id' : 'Key'}<'${position.table}'>`;
      expect(interfaceFields(text, 'MoveOrderParams').get('position_id')).toBe(`?${positionId} | null`);
      const params = interfaceFields(text, 'OrdersOfParams');
      for (const name of ['maybe_position', 'a', 'b', 'c', 'd', 'e', 'f']) expect(params.get(name), name).toBe(`?${positionId} | null`);
      expect(params.get('flag')).toBe('?boolean | null');

      expect(text).toMatch(/defineQuery<FeesOfParams, FeesOfResult, never, "scoped", "one">/);
      expect(text).toMatch(/defineQuery<MarketsTradedParams, MarketsTradedResult, never, "scoped", "one">/);

      const arrays = interfaceFields(text, 'MarketsTradedResult');
      expect(arrays.get('markets')).toBe('string[] | null'); // array_agg of a NOT NULL column: no null element (the array is null over no rows)
      // Of a nullable column: elements may be null; and an aggregated id keeps its brand.
      expect(arrays.get('positions')).toBe(`(${positionId} | null)[] | null`);
      expect(arrays.get('first_position')).toBe(`${positionId} | null`);
      expect(arrays.get('pair')).toBe('number[]');
      expect(arrays.get('holey')).toBe('(number | null)[]');

      const tags = interfaceFields(text, 'TagsOfResult');
      expect(tags.get('tags')).toBe('string[]'); // declared in precog.config.json
      expect(tags.get('other')).toBe('(string | null)[] | null');
      expect(text).toContain('nonNullElements: ["tags"]');
    });
  });

  it('refuses a nonNullElements entry that is not an array column', async () => {
    await withFreshDatabase(async (database) => {
      const sqlDir = join(scratch, 'sql-bad');
      mkdirSync(sqlDir, { recursive: true });
      writeFileSync(join(sqlDir, 'markets.sql'), '/* @name anyMarket */\nSELECT ticker FROM markets LIMIT 1;\n');
      const configPath = join(scratch, 'bad.config.json');
      writeFileSync(configPath, JSON.stringify({ nonNullElements: ['markets.ticker', 'markets.nope'] }));
      await expect(codegen(testServer(), { database, reuseDatabase: true, sqlDir, outDir: join(scratch, 'out-bad'), docsDir: scratch, configPath })).rejects.toThrow(
        /markets\.ticker is not an array column[\s\S]*there is no column markets\.nope/,
      );
    });
  });
});

describe('declared non-null elements at run time', () => {
  it('rejects a row whose declared array holds a null, naming the query and column', async () => {
    const definition = { ...(getCurrentMarketByTicker as unknown as QueryDefinition), nonNullElements: ['tags'] };
    const query = defineQuery(definition);
    const returning = (tags: unknown[]): Queryable => ({ query: async () => ({ rows: [{ ticker: 'T', tags }] }) }) as unknown as Queryable;
    await expect(query.rows({ ticker: 'T' } as never, returning(['a', 'b']))).resolves.toHaveLength(1);
    const refused = query.rows({ ticker: 'T' } as never, returning(['a', null]));
    await expect(refused).rejects.toBeInstanceOf(InvalidValueError);
    await expect(refused).rejects.toThrow(/getCurrentMarketByTicker: result column tags holds a null element/);
  });
});
