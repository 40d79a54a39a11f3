import { Decimal } from 'decimal.js';
import { expect, it } from 'vitest';
import { tradingDay } from '../../examples/trading-day.js';
import { withFreshDatabase } from '../support/db.js';

const d = (value: string) => new Decimal(value);

it('runs the example trading day: two backtests compared, one against paper, a paper order, position and settlement, live and paper side by side', async () => {
  await withFreshDatabase(async (_database, pool) => {
    const summary = await tradingDay(pool);
    // Loose run: 6 positions × 2 fills, bulk-loaded; strict run: 3 × 2, through its scope.
    expect(summary.backtestFills).toBe(18);
    expect(summary.paperPositionVersions).toBe(5);
    // 1000 funded; the settlement pays 5 × 1.00 (the ledger's trade debit is not a balance sync).
    expect(summary.paperBalance).toBe('1005.00');
    expect(summary.paperLedger).toEqual(['-4.27', '0.73']);
    expect(summary.trainingRows).toBe(19);
    expect(summary.nonLiveEnvironments).toEqual(['paper', 'backtest']);
    const byEnvironment = Object.fromEntries(summary.performance.map((row) => [row.execution_environment, row]));
    expect(byEnvironment.live!.trade_count).toBe(1n);
    expect(byEnvironment.paper!.realized_pnl.toFixed(4)).toBe('4.1300'); // closed 1.16 + settled (1 - 0.40) × 5 - 0.03
    expect(byEnvironment.backtest!.trade_count).toBe(18n);

    // The two runs, newest (strict) first. P&L per position = (exit - entry) × 10 - 0.14:
    // loose: 1.06, 1.36, -0.84, -0.54, -1.04, 1.66 (cumulative peak 2.42, trough 0.00);
    // strict (edge >= 0.10): 1.36, -0.54, 1.66 (peak 1.36, trough 0.82).
    const [strict, loose] = summary.backtestRuns;
    expect(summary.backtestRuns.map((run) => [run.execution_environment, run.label, run.parameters])).toEqual([
      ['backtest', 'min edge 0.10', { min_edge: '0.10' }],
      ['backtest', 'min edge 0.05', { min_edge: '0.05' }],
    ]);
    expect(loose).toMatchObject({ trade_count: 12n, positions_closed: 6n, winning_positions: 3n, status: 'finished' });
    expect(loose!.fees.equals(d('0.84'))).toBe(true);
    expect(loose!.win_rate!.equals(d('0.5'))).toBe(true);
    expect(loose!.realized_pnl.equals(d('1.66'))).toBe(true);
    expect(loose!.max_drawdown.equals(d('2.42'))).toBe(true);
    expect(strict).toMatchObject({ trade_count: 6n, positions_closed: 3n, winning_positions: 2n, status: 'finished' });
    expect(strict!.fees.equals(d('0.42'))).toBe(true);
    expect(strict!.win_rate!.equals(d('0.6667'))).toBe(true);
    expect(strict!.realized_pnl.equals(d('2.48'))).toBe(true);
    expect(strict!.max_drawdown.equals(d('0.54'))).toBe(true);

    // The strict run against paper trading of the strategy over the run's period.
    expect(summary.runVersusPaper.map((row) => [row.execution_environment, row.backtest_run_id, row.compared_run_id])).toEqual([
      ['paper', null, strict!.backtest_run_id],
      ['backtest', strict!.backtest_run_id, strict!.backtest_run_id],
    ]);
    const [paper, backtest] = summary.runVersusPaper;
    expect(paper).toMatchObject({ trade_count: 1n, positions_closed: 2n, winning_positions: 2n });
    expect(paper!.realized_pnl.equals(d('4.13'))).toBe(true);
    expect(paper!.win_rate!.equals(d('1'))).toBe(true);
    expect(paper!.max_drawdown.isZero()).toBe(true);
    expect(paper!.fees.equals(d('0.07'))).toBe(true);
    expect(backtest!.realized_pnl.equals(strict!.realized_pnl)).toBe(true);
    expect(backtest!.max_drawdown.equals(strict!.max_drawdown)).toBe(true);
  });
});
