/** The environment-safety lint: each unsafe fixture produces its finding, the clean one none. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lintProject } from '../../src/lint/environment-lint.js';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);
const summary = (findings: Awaited<ReturnType<typeof lintProject>>) =>
  findings.map((f) => `${f.file}:${f.line} ${f.rule}${f.object === f.file ? '' : ` ${f.object.slice(f.file.length + 1)}`}${f.blocking ? '' : ' (not blocking)'}`);

describe('environment-safety lint', () => {
  // The clean fixture also holds the pinned forms (IN (:p), row comparison, USING, ANY(ARRAY[:p]), grouped HAVING, UNION).
  it('finds nothing blocking in a clean change, and lists the annotated cross-environment query', async () => {
    expect(summary(await lintProject({ root: fixture('clean') }))).toEqual([
      'sql/trades.sql:38 env/cross-environment countTradesPerEnvironment (not blocking)',
    ]);
  });

  it('reports every undeclared table, guarantee undone after its declaration, unsafe reference and mixing view', async () => {
    const findings = summary(await lintProject({ root: fixture('unsafe') })).filter((line) => line.startsWith('migrations/'));
    const at = (line: number, rule: string) => `migrations/committed/000001-unprotected.sql:${line} env/${rule}`;
    expect(findings).toEqual([
      at(9, 'undeclared-table'),
      at(14, 'undeclared-reference'),
      at(17, 'undeclared-table'),
      at(19, 'view-mixes-environments'),
      at(21, 'view-mixes-environments'),
      at(24, 'view-mixes-environments'), // "-- cross-environment:" without a reason does not count
      at(32, 'column-mutable'), // its guard trigger dropped after the declaration
      at(32, 'no-row-level-security'), // row-level security disabled after the declaration
      at(33, 'column-default'), // a default set again after the declaration
      at(38, 'shared-references-tagged'), // an untagged table referencing a tagged one
      at(40, 'unpinned-search-path'), // SECURITY DEFINER resolving names through public
      at(40, 'security-definer-public'), // executable by PUBLIC: never revoked (Hardening II)
      at(40, 'security-definer-unjustified'), // and nothing says why it must be
      at(42, 'unpinned-search-path'), // a trigger function with no search_path
    ]);
  });

  it('reports every unscoped query with file, query name and line', async () => {
    const findings = summary(await lintProject({ root: fixture('unsafe') })).filter((line) => line.startsWith('sql/'));
    expect(findings).toEqual([
      'sql/trades.sql:2 env/unscoped-query listAllTrades',
      'sql/trades.sql:5 env/unscoped-query listTradesOptionalEnvironment', // "= :env OR :env IS NULL" is Precog #691
      'sql/trades.sql:9 env/unscoped-query listTradesByOtherParameter',
      'sql/trades.sql:12 env/unscoped-write recordTradeWithoutEnvironment',
      'sql/trades.sql:15 env/unscoped-write recordLiveTrade',
      'sql/trades.sql:18 env/unscoped-write copyForwardWithoutEnvironment', // Precog #662
      'sql/trades.sql:22 env/unscoped-write deleteTrade',
      'sql/trades.sql:25 env/unscoped-query listMixedView',
      'sql/trades.sql:28 env/annotation-without-reason listTradesWithoutReason',
      'sql/trades.sql:29 env/unscoped-query listTradesWithoutReason',
      'sql/trades.sql:34 env/unscoped-query listTradesHiddenInUnion', // the second branch of a UNION ALL
      'sql/trades.sql:37 env/unscoped-query listTradesInTwoEnvironments',
      'sql/trades.sql:40 env/unscoped-query listTradesAnyOfTwo',
      // A window, an aggregate or DISTINCT below the filter combines every environment's rows first.
      'sql/trades.sql:43 env/unscoped-query runningFeesFilteredAfterTheWindow',
      'sql/trades.sql:47 env/unscoped-query feesPerMarketFilteredAfterTheAggregate',
      'sql/trades.sql:51 env/unscoped-query marketsFilteredAfterDistinct',
    ]);
  });

  it('passes on the project itself', async () => {
    expect((await lintProject()).filter((finding) => finding.blocking)).toEqual([]);
  });
});
