import { expect, it } from 'vitest';
import { tradingDay } from '../../examples/trading-day.js';
import { withFreshDatabase } from '../support/db.js';

it('runs the example trading day: bulk backtest, a paper position, live and paper side by side', async () => {
  await withFreshDatabase(async (_database, pool) => {
    const summary = await tradingDay(pool);
    expect(summary.backtestFills).toBe(200);
    expect(summary.paperPositionVersions).toBe(5);
    expect(summary.trainingRows).toBe(201);
    expect(summary.nonLiveEnvironments).toEqual(['paper', 'backtest']);
    const byEnvironment = Object.fromEntries(summary.performance.map((row) => [row.execution_environment, row]));
    expect(byEnvironment.live!.trade_count).toBe(1n);
    expect(byEnvironment.paper!.realized_pnl.toFixed(4)).toBe('1.1600');
    expect(byEnvironment.backtest!.trade_count).toBe(200n);
  });
});
