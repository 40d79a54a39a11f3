/**
 * sql/orders.sql, sql/settlements.sql and sql/account.sql through the scopes, as an application
 * uses them: an order placed, filled and cancelled, a position settled (settlement, ledger entry
 * and balance version in one statement), the balance, the ledger and the running balance, each
 * in one environment only.
 */
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { ConstraintViolationError, precogDb, type Queryable, type Scope } from '../../src/index.js';
import { withRollback } from '../support/db.js';
import { strategyAndModel, unique } from './fixtures.js';

const d = (value: string) => new Decimal(value);
type Db = Queryable;

const scopes = (db: Db) => {
  const precog = precogDb(db);
  return { paper: precog.scope('paper', { api: 'demo' }), live: precog.scope('live', { api: 'live' }) };
};

async function placeLimitOrder<Env extends 'paper' | 'live'>(scope: Scope<Env>, db: Db, quantity = 10) {
  const { strategyId, modelId } = await strategyAndModel(db);
  const order = await scope.placeOrder({
    platform_id: 'kalshi', market_id: unique('MKT-ORD'), side: 'buy', order_type: 'limit', limit_price: d('0.4200'),
    quantity, strategy_id: strategyId, model_id: modelId,
  });
  return order!;
}

describe('orders', () => {
  it('are placed open, filled in parts (each fill a trade of the same environment), then filled', async () => {
    await withRollback(async (db) => {
      const { paper } = scopes(db);
      const order = await placeLimitOrder(paper, db);
      expect(order).toMatchObject({ status: 'open', filled_quantity: 0, average_fill_price: null, execution_environment: 'paper' });

      const fill = { order_id: order.id, price: d('0.4000'), quantity: 4, fees: d('0.0200'), trade_source: 'automated' } as const;
      const first = await paper.fillOrder(fill);
      expect(first).toMatchObject({ status: 'partially_filled', filled_quantity: 4, fill_quantity: 4, execution_environment: 'paper' });
      expect(first!.average_fill_price.toString()).toBe('0.4');
      const second = await paper.fillOrder({ ...fill, price: d('0.4300'), quantity: 6 });
      expect(second).toMatchObject({ status: 'filled', filled_quantity: 10 });
      // (0.40 * 4 + 0.43 * 6) / 10
      expect(second!.average_fill_price.toString()).toBe('0.418');

      const trade = await paper.getTradeById({ id: second!.trade_id });
      expect(trade).toMatchObject({ quantity: 6, execution_environment: 'paper' });
      expect(await paper.listOpenOrders()).not.toContainEqual(expect.objectContaining({ id: order.id }));
      // A filled order takes no more fills and cannot be cancelled.
      expect(await paper.fillOrder(fill)).toBeUndefined();
      expect(await paper.cancelOrder({ order_id: order.id })).toBeUndefined();
    });
  });

  it('refuse an overfill, and nothing of it is written', async () => {
    await withRollback(async (db) => {
      const { paper } = scopes(db);
      const order = await placeLimitOrder(paper, db, 5);
      // In a savepoint, so that the test's transaction goes on after the refusal.
      const error = await paper
        .transaction((tx) => tx.fillOrder({ order_id: order.id, price: d('0.4'), quantity: 6, fees: d('0'), trade_source: 'automated' }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConstraintViolationError);
      expect((error as ConstraintViolationError).rule).toBe('orders_filled_quantity_range');
      const after = await paper.getOrderById({ order_id: order.id });
      expect(after).toMatchObject({ status: 'open', filled_quantity: 0 });
    });
  });

  it('are listed open and cancelled in their own environment only', async () => {
    await withRollback(async (db) => {
      const { paper, live } = scopes(db);
      const paperOrder = await placeLimitOrder(paper, db);
      const liveOrder = await placeLimitOrder(live, db);
      const open = await paper.listOpenOrders();
      expect(open.map((o) => o.id)).toContain(paperOrder.id);
      expect(open.every((o) => o.execution_environment === 'paper')).toBe(true);
      expect(open.map((o) => o.id)).not.toContain(liveOrder.id);
      // The paper scope cannot reach the live order, even with its id.
      expect(await paper.cancelOrder({ order_id: liveOrder.id as never })).toBeUndefined();
      const cancelled = await live.cancelOrder({ order_id: liveOrder.id });
      expect(cancelled).toMatchObject({ status: 'cancelled', execution_environment: 'live' });
    });
  });
});

describe('settlement and the account', () => {
  it('settles a position: settlement, ledger credit and a new balance version, in its environment', async () => {
    await withRollback(async (db) => {
      const { paper, live } = scopes(db);
      const liveBalance = await live.syncBalance({ platform_id: 'kalshi', balance: d('5000.0000') });
      const start = await paper.syncBalance({ platform_id: 'kalshi', balance: d('1000.0000') });
      expect(start).toMatchObject({ row_current_ind: true, execution_environment: 'paper' });
      const position = await paper.openPosition({
        market_id: unique('MKT-SETTLE'), side: 'YES', entry_price: d('0.6000'), quantity: 10, fees: d('0.1000'),
      });

      const settlement = await paper.settlePosition({ position_key: position!.position_key, settlement_value: d('1'), platform_id: 'kalshi' });
      expect(settlement).toMatchObject({ position_key: position!.position_key, execution_environment: 'paper' });
      expect(settlement!.payout.toString()).toBe('10');
      expect(settlement!.realized_pnl.toString()).toBe('3.9'); // (1 - 0.6) * 10 - 0.1
      expect(settlement!.balance_after!.toString()).toBe('1010');

      const settled = await paper.getPositionByKey({ position_key: position!.position_key });
      expect(settled).toMatchObject({ status: 'settled', execution_environment: 'paper' });
      const balance = await paper.getCurrentBalance({ platform_id: 'kalshi' });
      expect(balance!.balance.toString()).toBe('1010');
      // The live account did not move.
      const liveNow = await live.getCurrentBalance({ platform_id: 'kalshi' });
      expect(liveNow!.id).toBe(liveBalance!.id);
      expect(liveNow!.balance.toString()).toBe('5000');
      // Settling twice does nothing: the position is no longer open.
      expect(await paper.settlePosition({ position_key: position!.position_key, settlement_value: d('1'), platform_id: 'kalshi' })).toBeUndefined();
    });
  });

  it('keeps the ledger of each environment apart, for a period and as a running balance', async () => {
    await withRollback(async (db) => {
      const { paper, live } = scopes(db);
      const at = (iso: string) => new Date(iso);
      await paper.recordLedgerEntry({ platform_id: 'kalshi', entry_type: 'deposit', amount: d('100'), recorded_at: at('2026-01-01T00:00:00Z') });
      await paper.recordLedgerEntry({ platform_id: 'kalshi', entry_type: 'fee', amount: d('-0.25'), recorded_at: at('2026-01-02T00:00:00Z') });
      await live.recordLedgerEntry({ platform_id: 'kalshi', entry_type: 'deposit', amount: d('999'), recorded_at: at('2026-01-01T12:00:00Z') });

      const period = await paper.listLedgerEntries({ platform_id: 'kalshi', from: at('2026-01-01T00:00:00Z'), to: at('2026-01-02T00:00:00Z') });
      expect(period.map((e) => e.amount.toString())).toEqual(['100']);
      const running = await paper.getRunningBalance({ platform_id: 'kalshi' });
      const ours = running.filter((e) => e.recorded_at >= at('2026-01-01T00:00:00Z') && e.recorded_at <= at('2026-01-02T00:00:00Z'));
      expect(ours.map((e) => e.amount.toString())).toEqual(['100', '-0.25']);
      expect(running.every((e) => e.execution_environment === 'paper')).toBe(true);
      const last = running.at(-1)!;
      expect(last.running_balance.toString()).toBe(running.reduce((sum, e) => sum.plus(e.amount), d('0')).toString());
    });
  });
});
