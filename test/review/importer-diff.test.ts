/** Generated modules of base and head → what changed for code that imports them. */
import { describe, expect, it } from 'vitest';
import { diffImporters, parseGenerated } from '../../src/review/importer-diff.js';

const module = (queries: { name: string; params: string[]; result: string[]; sql?: string }[]) =>
  queries
    .map(({ name, params, result, sql = 'SELECT 1' }) => {
      const type = name[0]!.toUpperCase() + name.slice(1);
      return [
        params.length ? `export interface ${type}Params {\n${params.map((p) => `  ${p};`).join('\n')}\n}` : `export type ${type}Params = void;`,
        '',
        `export interface ${type}Result {\n  /** a column comment */\n${result.map((r) => `  ${r};`).join('\n')}\n}`,
        '',
        `export const ${name} = defineQuery<${type}Params, ${type}Result, "trade">(${JSON.stringify({ name, sql }, null, 2)});`,
        '',
      ].join('\n');
    })
    .join('\n');

describe('importer diff', () => {
  it('calls out removed functions, new required parameters and changed or removed result fields as breaking', () => {
    const base = parseGenerated(new Map([['trades.ts', module([
      { name: 'listTrades', params: ['execution_environment: ExecutionEnvironment', 'limit?: number | null'], result: ['id: number', 'fees: Decimal', 'venue: string | null'] },
      { name: 'getTrade', params: ['id: number'], result: ['id: number'] },
      { name: 'countTrades', params: [], result: ['n: string | null'] },
    ])]]));
    const head = parseGenerated(new Map([['trades.ts', module([
      { name: 'listTrades', params: ['execution_environment: ExecutionEnvironment', 'limit?: number | null', 'market_id: string', 'since?: Date | null'], result: ['id: number', 'fees: Decimal | null', 'venue: string', 'note: string | null'] },
      { name: 'countTrades', params: [], result: ['n: string | null'], sql: 'SELECT count(*) AS n FROM trades' },
      { name: 'recordTrade', params: ['price: Decimal'], result: ['id: number'] },
    ])]]));
    expect(diffImporters(base, head).map((change) => `${change.breaking ? 'BREAKING ' : ''}${change.text}`)).toEqual([
      '`countTrades` SQL changed, types unchanged',
      'BREAKING `getTrade` removed (trades.ts)',
      'BREAKING `listTrades` param `market_id: string` added',
      '`listTrades` param `since?: Date | null` added',
      'BREAKING `listTrades` result `fees: Decimal` → `fees: Decimal | null`',
      '`listTrades` result `venue: string | null` → `venue: string`',
      '`listTrades` result `note: string | null` added',
      '`recordTrade` added (trades.ts)',
    ]);
  });

  it('calls out a query whose environment class changed as breaking: it is offered elsewhere', () => {
    const generated = (environment: string) =>
      `export type GetFeesParams = void;\n\nexport interface GetFeesResult {\n  n: number;\n}\n\n` +
      `export const getFees = defineQuery<GetFeesParams, GetFeesResult, never, never, "${environment}">({\n  name: "getFees",\n  environment: "${environment}",\n});\n`;
    const parse = (environment: string) => parseGenerated(new Map([['trades.ts', generated(environment)]]));
    expect(diffImporters(parse('shared'), parse('scoped')).map((change) => `${change.breaking ? 'BREAKING ' : ''}${change.text}`)).toEqual([
      'BREAKING `getFees` is now scoped, offered on scopes (was shared, on db.shared and scopes)',
    ]);
    expect(diffImporters(parse('scoped'), parse('scoped'))).toEqual([]);
  });
});
