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
  it('writes the JSON of measurements 1 to 4 and prints the table', async () => {
    const out = join(dir, 'latest.json');
    const { stdout } = await run('npx', ['tsx', 'bench/run.ts', '--quick', '--no-dev', '--no-tests', `--out=${out}`], {
      cwd: join(import.meta.dirname, '..', '..'),
      timeout: 180_000,
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
        ratio, threshold: 1.05, met: ratio <= 1.05, pairedRatio: expect.any(Number), cpuRatio: cpuAccountedRatio, cpuMet: cpuAccountedRatio <= 1.05,
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
    ]);
    expect(results.isolation.purge).toMatchObject({ purge_s: expect.any(Number), liveAndPaperUnchanged: true });
    expect(results.isolation.purge.backtestRowsLeft).toEqual({ trades: 0, positions: 0 });
    expect(results.table.length).toBeGreaterThan(5);
  }, 180_000);
});
