/**
 * The environment analysis reads pgtyped's expansions as PostgreSQL sees them: `:ids` declared
 * `(...)` is `($n)`, a pick or a row of picks `($a, $b)`, and a picked execution_environment is
 * the statement's :execution_environment (the scope binds it in every row).
 */
import { describe, expect, it } from 'vitest';
import { headerExpansions, queryBlocks, replacePlaceholders } from '../../src/lint/sql-queries.js';
import { unscopedReferences } from '../../src/environment/environment-binding.js';
import { parserReady, parseStatements } from '../../src/parser/pg-ast.js';

const TAGGED = new Set(['trades', 'positions']);

describe('expansions in the environment analysis', () => {
  it('reads the header declarations', () => {
    expect(headerExpansions('/*\n  @name X\n  @param ids -> (...)\n  @param book -> (title!, rank)\n  @param books -> ((title!, rank)...)\n*/')).toEqual(
      new Map<string, unknown>([
        ['ids', { kind: 'spread' }],
        ['book', { kind: 'pick', keys: ['title', 'rank'] }],
        ['books', { kind: 'picks', keys: ['title', 'rank'] }],
      ]),
    );
  });

  it('replaces each as a parenthesised list that parses, line for line', async () => {
    await parserReady();
    const { sql, params } = replacePlaceholders(
      'INSERT INTO trades (market_id, price, execution_environment)\nVALUES :fills\nRETURNING id;',
      new Map([['fills', { kind: 'picks', keys: ['market_id', 'price', 'execution_environment'] }]]),
    );
    expect(sql).toBe('INSERT INTO trades (market_id, price, execution_environment)\nVALUES ($1, $2, $3)\nRETURNING id;');
    expect(params).toEqual(new Map([[1, 'fills.market_id'], [2, 'fills.price'], [3, 'execution_environment']]));
    expect(unscopedReferences(parseStatements(sql)[0]!.stmt, params, TAGGED)).toEqual([]);

    const spread = replacePlaceholders('SELECT id FROM trades WHERE id IN :ids AND execution_environment = :execution_environment!', new Map([['ids', { kind: 'spread' }]]));
    expect(spread.sql).toBe('SELECT id FROM trades WHERE id IN ($1) AND execution_environment = $2');
    expect(unscopedReferences(parseStatements(spread.sql)[0]!.stmt, spread.params, TAGGED)).toEqual([]);
  });

  it('a multi-row insert without the environment among the picked fields is a mode-blind insert', async () => {
    await parserReady();
    const [block] = queryBlocks('/*\n  @name recordFills\n  @param fills -> ((market_id!, price!)...)\n*/\nINSERT INTO trades (market_id, price)\nVALUES :fills;\n');
    expect(block!.sql).toContain('VALUES ($1, $2)');
    const unscoped = unscopedReferences(parseStatements(block!.sql)[0]!.stmt, block!.params, TAGGED);
    expect(unscoped.map((ref) => [ref.table, ref.kind])).toEqual([['trades', 'insert']]);
  });
});
