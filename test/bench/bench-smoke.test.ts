/**
 * `npm run bench -- --quick` runs end to end and writes every field BENCHMARKS.md quotes.
 * No timing is asserted: the benchmark reports, it does not fail CI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'precog-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run bench -- --quick', () => {
  it('writes the JSON of measurements 1 to 4, the goals, and prints the tables', async () => {
    const out = join(dir, 'latest.json');
    const { stdout } = await run('npx', ['tsx', 'bench/run.ts', '--quick', '--no-dev', '--no-tests', `--out=${out}`], {
      cwd: join(import.meta.dirname, '..', '..'),
      timeout: 600_000,
    });
    expect(stdout).toContain('| section');
    const results = JSON.parse(readFileSync(out, 'utf8'));

    expect(results.meta).toMatchObject({ node: expect.any(String), postgres: expect.any(String) });
    expect(results.overhead.results.map((r: { query: string }) => r.query)).toEqual(['getTradeById', 'recordTrade', 'listRecentTrades']);
    for (const r of results.overhead.results) {
      expect(r).toMatchObject({ medianA_ms: expect.any(Number), medianB_ms: expect.any(Number), ratio: expect.any(Number) });
    }
    // Each case's goal, by name, in the section and gathered into the top-level goals.
    for (const name of ['getTradeById', 'recordTrade', 'listRecentTrades']) {
      const goal = results.goals[`overhead_vs_raw_strings.${name}`];
      const { ratio, cpuAccountedRatio } = results.overhead.results.find((r: { query: string }) => r.query === name);
      expect(goal).toEqual({
        ratio, threshold: 1.05, at: 'most', met: ratio <= 1.05, pairedRatio: expect.any(Number), cpuRatio: cpuAccountedRatio, cpuMet: cpuAccountedRatio <= 1.05,
      });
      expect(results.overhead.goals[`overhead_vs_raw_strings.${name}`]).toEqual(goal);
    }
    expect(results.bulk).toMatchObject({
      scopedRowsPerSecond: expect.any(Number),
      copyRowsPerSecond: expect.any(Number),
      ratio: expect.any(Number),
    });
    const [level] = results.isolation.levels;
    expect(level.results.map((r: { design: string; query: string }) => `${r.design} ${r.query}`)).toEqual([
      'current listRecentTrades',
      'current listOpenPositions',
      'adr107 listRecentTrades',
      'adr107 listOpenPositions',
      'current recordTrade',
    ]);
    // The backtest rows of the isolation databases belong to runs (migration 000013).
    expect(level.load).toMatchObject({ runs: expect.any(Number), trades: expect.any(Number), tradesPerRun: expect.any(Number) });
    expect(results.runs.load).toMatchObject({
      loadRowsPerSecond: expect.any(Number),
      pkOnlyCopyRowsPerSecond: expect.any(Number),
      loadPhases_ms: [{ beginAndCopy: expect.any(Number), finish: expect.any(Number), commit: expect.any(Number) }],
      profile: { indexBuild_ms: expect.any(Number), validation_ms: expect.any(Number), validationStatements: expect.any(Array) },
    });
    // Deleting a run left every other run, live and paper as they were, and nothing of the run.
    for (const deleted of results.runs.purge.deletes) expect(deleted).toMatchObject({ othersUnchanged: true, rowsLeft: 0 });
    // Issue 14's goals, by name, each with its figure, threshold and whether it is met (never asserted).
    for (const [name, figure] of [
      ['guarded_copy_vs_unguarded_copy', 'ratio'],
      ['backtest_load_vs_pk_only_copy', 'ratio'],
      ['run_purge_ms', 'value'],
      ['live_latency_ratio_1000_runs', 'ratio'],
    ] as const) {
      expect(results.goals[name], name).toMatchObject({ [figure]: expect.any(Number), threshold: expect.any(Number), met: expect.any(Boolean) });
    }
    // Runs at scale (issue 21): every call at every size, the goals by name, the chart beside the JSON.
    expect(results.scale.levels.map((level: { runs: number }) => level.runs)).toEqual(results.scale.sizes);
    for (const level of results.scale.levels) {
      expect(Object.keys(level.calls)).toEqual(['listRecentTrades', 'recordTrade', 'openPosition', 'settlePosition', 'compareBacktestRuns (one run)', 'live listRecentTrades']);
      expect(level).toMatchObject({ locks: { read: expect.any(Number), write: expect.any(Number) }, create_ms: expect.any(Number), delete_ms: expect.any(Number), hiddenAtOnce: true });
    }
    for (const name of ['locks', 'create', 'create_ms', 'delete_ms', 'purge_s', 'compare_strategy_s', 'listRecentTrades', 'settlePosition', 'live listRecentTrades']) {
      expect(results.goals[`runs_at_scale.${name}`], name).toMatchObject({ threshold: expect.any(Number), met: expect.any(Boolean) });
    }
    expect(results.scale.purge).toMatchObject({ ok: true });
    expect(readFileSync(join(dir, 'runs-at-scale.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
    expect(Object.keys(results.goals.live_latency_ratio_1000_runs.queries)).toEqual(['listRecentTrades', 'listOpenPositions', 'recordTrade']);
    expect(stdout).toContain('| goal');
    expect(results.isolation.purge).toMatchObject({ purge_s: expect.any(Number), liveAndPaperUnchanged: true });
    expect(results.isolation.purge.backtestRowsLeft).toEqual({ trades: 0, positions: 0 });
    expect(results.table.length).toBeGreaterThan(5);
  }, 600_000);
});
