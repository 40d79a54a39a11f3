import { expect, it } from 'vitest';
import { tradingDay } from '../../examples/trading-day.js';
import { withFreshDatabase } from '../support/db.js';

it('runs the example trading day: bulk backtest, a paper order, position and settlement, live and paper side by side', async () => {
  await withFreshDatabase(async (_database, pool) => {
    const summary = await tradingDay(pool);
    expect(summary.backtestFills).toBe(200);
    expect(summary.paperPositionVersions).toBe(5);
    // 1000 funded; the settlement pays 5 × 1.00 (the ledger's trade debit is not a balance sync).
    expect(summary.paperBalance).toBe('1005.00');
    expect(summary.paperLedger).toEqual(['-4.27', '0.73']);
    expect(summary.trainingRows).toBe(201);
    expect(summary.nonLiveEnvironments).toEqual(['paper', 'backtest']);
    const byEnvironment = Object.fromEntries(summary.performance.map((row) => [row.execution_environment, row]));
    expect(byEnvironment.live!.trade_count).toBe(1n);
    expect(byEnvironment.paper!.realized_pnl.toFixed(4)).toBe('4.1300'); // closed 1.16 + settled (1 - 0.40) × 5 - 0.03
    expect(byEnvironment.backtest!.trade_count).toBe(200n);
  });
});
