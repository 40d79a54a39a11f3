/** The table `npm run bench` prints, built from the same object it writes as JSON. */
import { fmt } from './support.js';

export interface Row {
  section: string;
  measurement: string;
  a: string;
  b: string;
  figure: string;
  goal: string;
  /** true/false when the row has a goal; undefined for context rows (baselines, load times). */
  met: boolean | undefined;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

export function rows(results: Record<string, Any>): Row[] {
  const out: Row[] = [];
  const ms = (x: number) => `${fmt(x, 3)} ms`;
  const overhead = results.overhead;
  if (overhead?.results) {
    for (const r of overhead.results) {
      out.push({
        section: '1 overhead',
        measurement: `${r.query}: ${r.what}`,
        a: `scoped ${ms(r.medianA_ms)}`,
        b: `raw pg ${ms(r.medianB_ms)}`,
        figure: `×${fmt(r.ratio, 3)} (paired ×${fmt(r.pairedRatio, 3)}; CPU ×${fmt(r.cpuAccountedRatio, 3)}; vs raw+same decoding ×${fmt(r.ratioSameDecoding, 3)})`,
        goal: '≤ ×1.05',
        met: r.ratio <= 1.05,
      });
    }
  }
  const bulk = results.bulk;
  if (bulk?.rows) {
    out.push({
      section: '2 bulk',
      measurement: `${bulk.rows.toLocaleString('en-US')} backtest trades (recordTrades batches of ${bulk.batch.toLocaleString('en-US')})`,
      a: `scoped ${bulk.scopedRowsPerSecond.toLocaleString('en-US')} rows/s`,
      b: `COPY ${bulk.copyRowsPerSecond.toLocaleString('en-US')} rows/s`,
      figure: `×${fmt(bulk.ratio, 3)} of COPY`,
      goal: '≥ ×0.8',
      met: bulk.ratio >= 0.8,
    });
  }
  const guarded = bulk?.guardedCopy;
  if (guarded) {
    out.push({
      section: '2 bulk',
      measurement: `COPY of ${bulk.rows.toLocaleString('en-US')} trades, every guarantee vs an unguarded copy with the same indexes`,
      a: `guarded ${guarded.guardedRowsPerSecond.toLocaleString('en-US')} rows/s`,
      b: `unguarded ${guarded.unguardedRowsPerSecond.toLocaleString('en-US')} rows/s`,
      figure: `×${fmt(guarded.ratio, 3)} (paired ×${fmt(guarded.pairedRatio, 3)})`,
      goal: '≥ ×0.8',
      met: guarded.ratio >= 0.8,
    });
  }
  const runs = results.runs;
  if (runs?.load) {
    const load = runs.load;
    const phases = (key: string) => fmt(load.loadPhases_ms.map((p: Record<string, number>) => p[key]!).sort((x: number, y: number) => x - y)[Math.floor(load.loadPhases_ms.length / 2)] / 1000, 2);
    out.push({
      section: '2b runs',
      measurement: `db.backtests.load of ${load.trades.toLocaleString('en-US')} trades + ${load.positions.toLocaleString('en-US')} positions vs COPY into PK-only tables (${load.rounds} rounds)`,
      a: `load ${load.loadRowsPerSecond.toLocaleString('en-US')} rows/s`,
      b: `PK-only COPY ${load.pkOnlyCopyRowsPerSecond.toLocaleString('en-US')} rows/s`,
      figure: `×${fmt(load.ratio, 3)} (paired ×${fmt(load.pairedRatio, 3)}); median phases: begin+COPY ${phases('beginAndCopy')} s, finish ${phases('finish')} s`,
      goal: '≥ ×0.5',
      met: load.ratio >= 0.5,
    });
    const profile = load.profile;
    if (profile) {
      out.push({
        section: '2b runs',
        measurement: 'profiled load: precog_backtest_load_finish',
        a: `indexes ${fmt(profile.indexBuild_ms / 1000, 2)} s`,
        b: `validation ${fmt(profile.validation_ms / 1000, 2)} s`,
        figure: `finish ${fmt(profile.finish_ms / 1000, 2)} s`,
        goal: '(where the time goes)',
        met: undefined,
      });
    }
  }
  if (runs?.purge) {
    const purge = runs.purge;
    out.push({
      section: '2b runs',
      measurement: `db.backtests.delete(run) of ${runs.load.trades.toLocaleString('en-US')} trades + ${runs.load.positions.toLocaleString('en-US')} positions, median of ${purge.deletes.length}`,
      a: `${purge.deletes.map((d: { ms: number }) => fmt(d.ms, 0)).join('/')} ms`,
      b: `others unchanged: ${purge.deletes.every((d: { othersUnchanged: boolean }) => d.othersUnchanged) ? 'yes' : 'NO'}`,
      figure: `${fmt(purge.median_ms, 1)} ms (DELETE ${fmt(purge.breakdown?.deleteStatement_ms, 1)} + COMMIT ${fmt(purge.breakdown?.commit_ms, 1)} ms)`,
      goal: '≤ 50 ms',
      met: purge.median_ms <= 50 && purge.deletes.every((d: { othersUnchanged: boolean }) => d.othersUnchanged),
    });
  }
  const scale = results.scale;
  if (scale?.levels) {
    const base = scale.levels[0];
    for (const level of scale.levels) {
      const at = `${level.runs.toLocaleString('en-US')} runs, ${level.backtestTrades.toLocaleString('en-US')} backtest trades`;
      for (const [call, value] of Object.entries(level.calls as Record<string, number>)) {
        const r = value / base.calls[call];
        const isLive = call.startsWith('live');
        out.push({ section: '2c runs at scale', measurement: `${call}, ${at}`, a: ms(value), b: `at ${base.runs} runs ${ms(base.calls[call])}`, figure: `×${fmt(r, 3)}`,
          goal: level === base ? '(baseline)' : isLive ? '≤ ×1.1' : '≤ ×1.2', met: level === base ? undefined : r <= (isLive ? 1.1 : 1.2) });
      }
      const locks = Math.max(level.locks.read, level.locks.write) / Math.max(base.locks.read, base.locks.write);
      out.push({ section: '2c runs at scale', measurement: `locks of a run scope's read / write, ${at}`, a: `${level.locks.read} / ${level.locks.write}`, b: `at ${base.runs} runs ${base.locks.read} / ${base.locks.write}`,
        figure: `×${fmt(locks, 3)}`, goal: level === base ? '(baseline)' : '≤ ×1.2', met: level === base ? undefined : locks <= 1.2 });
      out.push({ section: '2c runs at scale', measurement: `db.backtests.create, ${at}`, a: ms(level.create_ms), b: `at ${base.runs} runs ${ms(base.create_ms)}`,
        figure: `×${fmt(level.create_ms / base.create_ms, 3)}`, goal: '≤ ×1.2 and < 50 ms', met: level === base ? undefined : level.create_ms / base.create_ms <= 1.2 && level.create_ms < 50 });
      out.push({ section: '2c runs at scale', measurement: `db.backtests.delete of a kept run, ${at}`, a: ms(level.delete_ms), b: `gone from every read at once: ${level.hiddenAtOnce ? 'yes' : 'NO'}`,
        figure: `sweep after: ${fmt(level.sweep_ms, 0)} ms`, goal: '≤ 50 ms', met: level.delete_ms <= 50 && level.hiddenAtOnce });
      out.push({ section: '2c runs at scale', measurement: `compareBacktestRuns({ strategy_id }) over ${level.compareStrategyRuns} runs, ${at}`, a: ms(level.compareStrategy_ms), b: '',
        figure: `${fmt(level.compareStrategy_ms / 1000, 3)} s`, goal: '≤ 2 s', met: level.compareStrategy_ms <= 2000 });
    }
    const big = scale.bigDelete;
    if (big) {
      out.push({ section: '2c runs at scale', measurement: `delete a run of ${big.trades.toLocaleString('en-US')} trades, then the sweep`, a: ms(big.delete_ms),
        b: `${big.sweepBatches} batches, median ${fmt(big.sweepBatchMedian_ms, 0)} / max ${fmt(big.sweepBatchMax_ms, 0)} ms`,
        figure: `live write ${ms(big.liveWriteBefore_ms)} before, ${ms(big.liveWriteDuringSweep_ms)} during (max ${fmt(big.liveWriteDuringSweepMax_ms, 1)} ms)`, goal: '≤ 50 ms', met: big.delete_ms <= 50 && big.hiddenAtOnce });
    }
    if (scale.purge) {
      out.push({ section: '2c runs at scale', measurement: `purge_backtest_data() of ${scale.purge.runs.toLocaleString('en-US')} runs`, a: scale.purge.error ? `FAILED: ${String(scale.purge.error).slice(0, 40)}` : `${fmt(scale.purge.purge_s, 2)} s`,
        b: `max_locks_per_transaction = ${scale.maxLocksPerTransaction}`, figure: scale.chart ?? '', goal: '≤ 10 s on 64', met: scale.purge.ok && scale.purge.purge_s <= 10 && scale.maxLocksPerTransaction <= 64 });
    }
  }
  const isolation = results.isolation;
  if (isolation?.levels) {
    for (const level of isolation.levels) {
      const n = level.backtestTrades >= 1_000_000 ? `${level.backtestTrades / 1_000_000}M` : level.backtestTrades.toLocaleString('en-US');
      out.push({
        section: '3 isolation',
        measurement: `load ${n} backtest trades over ${level.load.runs ?? 1} runs (INSERT ... SELECT, owner)`,
        a: `${fmt(level.load.insert_s, 1)} s`,
        b: `+ ${fmt(level.load.vacuumAnalyze_s, 1)} s VACUUM ANALYZE`,
        figure: `${level.load.insertRowsPerSecond.toLocaleString('en-US')} rows/s`,
        goal: '',
        met: undefined,
      });
      for (const r of level.results) {
        const baseline = r.design === 'adr107';
        out.push({
          section: '3 isolation',
          measurement: `${r.what} (${r.rows} rows), ${n} backtests in ${level.load.runs ?? 1} runs, ${baseline ? "ADR-107's indexes alone" : 'this schema'}`,
          a: `at ${n} ${ms(r.medianA_ms)}`,
          b: `at 0 ${ms(r.medianB_ms)}`,
          figure: `×${fmt(r.ratio, 2)}`,
          goal: baseline ? '(baseline)' : '≤ ×1.1 (issue 14)',
          met: baseline ? undefined : r.ratio <= 1.1,
        });
      }
    }
  }
  const purge = isolation?.purge;
  if (purge?.error) {
    out.push({
      section: '4 purge',
      measurement: `purge_backtest_data(): ${purge.deleted.trades.toLocaleString('en-US')} trades in ${isolation.runs} runs`,
      a: `FAILED after ${fmt(purge.purge_s, 2)} s: ${String(purge.error).slice(0, 40)}`,
      b: purge.oneByOne ? `one by one: ${fmt(purge.oneByOne.total_s, 1)} s (${fmt(purge.oneByOne.perRun_ms, 1)} ms/run)` : '',
      figure: `live+paper unchanged: ${purge.liveAndPaperUnchanged ? 'yes' : 'NO'}`,
      goal: '≤ 1 s, live unchanged',
      met: false,
    });
  } else if (purge?.deleted) {
    out.push({
      section: '4 purge',
      measurement: `purge_backtest_data(): ${purge.deleted.trades.toLocaleString('en-US')} trades + ${purge.deleted.positions.toLocaleString('en-US')} position versions`,
      a: `${fmt(purge.purge_s, 2)} s`,
      b: `live+paper unchanged: ${purge.liveAndPaperUnchanged ? 'yes' : 'NO'}`,
      figure: `${fmt(purge.purge_s, 2)} s`,
      goal: '≤ 1 s, live unchanged',
      met: purge.purge_s <= 1 && purge.liveAndPaperUnchanged,
    });
  }
  const dev = results.dev;
  if (dev?.querySaveToTypes) {
    out.push({
      section: '5 dev loop',
      measurement: 'save sql/*.sql → types written (npm run dev)',
      a: `median of ${dev.repetitions}`,
      b: `dev says ${dev.querySaveToTypes.reportedByDev_ms.join('/')} ms`,
      figure: `${dev.querySaveToTypes.median_ms} ms`,
      goal: '≤ 1000 ms',
      met: dev.querySaveToTypes.median_ms <= 1000,
    });
    out.push({
      section: '5 dev loop',
      measurement: 'save current.sql → migrated + all types',
      a: `median of ${dev.repetitions}`,
      b: `dev says ${dev.currentSqlSaveToMigratedAndTypes.reportedByDev_ms.join('/')} ms`,
      figure: `${dev.currentSqlSaveToMigratedAndTypes.median_ms} ms`,
      goal: '≤ 2000 ms',
      met: dev.currentSqlSaveToMigratedAndTypes.median_ms <= 2000,
    });
    out.push({
      section: '5 dev loop',
      measurement: 'cold npm run codegen, empty data folder',
      a: `exit ${dev.coldCodegen.exitCode}`,
      b: '',
      figure: `${dev.coldCodegen.wall_ms} ms`,
      goal: '≤ 5000 ms',
      met: dev.coldCodegen.exitCode === 0 && dev.coldCodegen.wall_ms <= 5000,
    });
  }
  const breakdown = dev?.codegenBreakdown;
  if (breakdown?.queries) {
    out.push({
      section: '5 dev loop',
      measurement: `in process: pgtyped type inference of all ${breakdown.queries} queries`,
      a: `${fmt(breakdown.inferPerQuery_ms, 1)} ms/query`,
      b: `trades.sql only (${breakdown.tradesSqlQueries}): ${breakdown.inferTradesSqlOnly_ms} ms`,
      figure: `${breakdown.inferAllQueries_ms} ms`,
      goal: '(where the time goes)',
      met: undefined,
    });
  }
  const tests = results.tests;
  if (tests?.wall_ms !== undefined) {
    out.push({
      section: '5 dev loop',
      measurement: 'npm test, wall time',
      a: `exit ${tests.exitCode}`,
      b: tests.tests ?? '',
      figure: `${fmt(tests.wall_ms / 1000, 1)} s`,
      goal: '(reported)',
      met: undefined,
    });
  }
  for (const [name, value] of Object.entries(results)) {
    if (value && typeof value === 'object' && 'error' in value && Object.keys(value).length === 1) {
      out.push({ section: name, measurement: `FAILED: ${String(value.error).slice(0, 100)}`, a: '', b: '', figure: '', goal: '', met: false });
    }
  }
  return out;
}

export function printTable(table: Row[]): void {
  const header = ['section', 'measurement', 'A', 'B', 'figure', 'goal', 'met'];
  const cells = table.map((r) => [r.section, r.measurement, r.a, r.b, r.figure, r.goal, r.met === undefined ? '' : r.met ? 'yes' : 'NO']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

/**
 * One goal of issue 14 in the JSON's top-level `goals` object, by name: `ratio` (a ratio of two
 * sides measured in the same run) or `value` (an absolute figure, with its `unit`), the
 * `threshold`, and whether it is `met`. `at` says which side of the threshold meets it: `most`
 * (figure ≤ threshold) or `least` (figure ≥ threshold). Anything else a section wants beside it
 * (paired ratio, breakdown) goes in `extra` and is kept as is.
 */
export interface Goal {
  ratio?: number;
  value?: number;
  unit?: string;
  threshold: number;
  at?: 'most' | 'least';
  met: boolean;
  [extra: string]: unknown;
}

/** A goal entry: met is computed from the figure, the threshold and `at`. */
export function goal(
  figure: { ratio: number } | { value: number; unit: string },
  threshold: number,
  at: 'most' | 'least',
  extra: Record<string, unknown> = {},
): Goal {
  const x = 'ratio' in figure ? figure.ratio : figure.value;
  const met = Number.isFinite(x) && (at === 'most' ? x <= threshold : x >= threshold);
  return { ...figure, threshold, at, met, ...extra };
}

/** Gathers a section's `goals` (if it returned any) into the run's top-level goals object. */
export function gatherGoals(into: Record<string, Goal>, sectionResult: unknown): void {
  const own = (sectionResult as { goals?: Record<string, Goal> } | undefined)?.goals;
  if (own && typeof own === 'object') Object.assign(into, own);
}

/** The goals table printed at the end of `npm run bench`. */
export function printGoals(goals: Record<string, Goal>): void {
  const names = Object.keys(goals);
  if (names.length === 0) return;
  const header = ['goal', 'figure', 'threshold', 'met'];
  const cells = names.map((name) => {
    const g = goals[name]!;
    const x = g.ratio ?? g.value;
    // Entries written without `at` (bench/overhead.ts): the side of the threshold follows from met.
    const at = g.at ?? (x !== undefined && (x <= g.threshold) === g.met ? 'most' : 'least');
    const figure = g.ratio !== undefined ? `×${fmt(g.ratio, 3)}` : `${fmt(g.value, 1)}${g.unit ? ` ${g.unit}` : ''}`;
    const threshold = `${at === 'most' ? '≤' : '≥'} ${g.ratio !== undefined ? '×' : ''}${g.threshold}${g.ratio === undefined && g.unit ? ` ${g.unit}` : ''}`;
    return [name, figure, threshold, g.met ? 'yes' : 'NO'];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log('');
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}
