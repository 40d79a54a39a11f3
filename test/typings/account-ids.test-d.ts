/**
 * The ids of Precog's next tables (orders, settlements, account_balance, account_ledger) are
 * branded from the schema like trades' and positions': no name of them is written in src/. A
 * paper id, or a bare number, is refused where a live one is needed. Each `@ts-expect-error`
 * line states the rule it breaks.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { Decimal, type Id, type Live, type Paper, type Scope } from 'precog-db';
import type {
  GetCurrentBalanceResult,
  GetOrderByIdResult,
  ListLedgerEntriesResult,
  ListSettlementsResult,
  PlaceOrderResult,
} from 'precog-db/queries';

declare const live: Scope<'live'>;
declare const paper: Scope<'paper'>;
declare const paperOrder: Paper<PlaceOrderResult>;
declare const liveOrder: Live<PlaceOrderResult>;
declare const paperSettlement: Paper<ListSettlementsResult>;
declare const paperBalance: Paper<GetCurrentBalanceResult>;
declare const paperEntry: Paper<ListLedgerEntriesResult>;
declare const liveEntry: Live<ListLedgerEntriesResult>;

/** Code that reconciles real money: live ledger entries only. */
declare function reconcileLive(entries: Live<ListLedgerEntriesResult>[]): void;

const fill = { price: new Decimal('0.5'), quantity: 1, fees: new Decimal('0'), trade_source: 'automated' } as const;

describe('ids of the new tables', () => {
  it('are branded with their table in generated/, and with the scope environment on rows', () => {
    expectTypeOf<GetOrderByIdResult['id']>().toEqualTypeOf<Id<'orders'>>();
    expectTypeOf<ListSettlementsResult['id']>().toEqualTypeOf<Id<'settlements'>>();
    expectTypeOf<GetCurrentBalanceResult['id']>().toEqualTypeOf<Id<'account_balance'>>();
    expectTypeOf<ListLedgerEntriesResult['order_id']>().toEqualTypeOf<Id<'orders'> | null>();
    expectTypeOf<ListLedgerEntriesResult['settlement_id']>().toEqualTypeOf<Id<'settlements'> | null>();
    expectTypeOf(paperOrder.id).toEqualTypeOf<Id<'orders', 'paper'>>();
    expectTypeOf(liveEntry.trade_id).toEqualTypeOf<Id<'trades', 'live'> | null>();
  });

  it('accept an id of the same environment', () => {
    void live.fillOrder({ ...fill, order_id: liveOrder.id });
    void live.cancelOrder({ order_id: liveOrder.id });
    void paper.getOrderById({ order_id: paperOrder.id });
    void paper.recordLedgerEntry({ platform_id: 'kalshi', entry_type: 'settlement', amount: new Decimal('1'), settlement_id: paperSettlement.id });
    reconcileLive([liveEntry]);
  });
});

describe('must not compile', () => {
  it('refuses another environment’s id, or a bare number, in a live call', () => {
    // @ts-expect-error - a paper order id in a live fill
    void live.fillOrder({ ...fill, order_id: paperOrder.id });
    // @ts-expect-error - a paper order id in a live cancel
    void live.cancelOrder({ order_id: paperOrder.id });
    // @ts-expect-error - a bare number is not an order id
    void live.cancelOrder({ order_id: 42 });
    // @ts-expect-error - a paper settlement id in a live ledger entry
    void live.recordLedgerEntry({ platform_id: 'kalshi', entry_type: 'settlement', amount: new Decimal('1'), settlement_id: paperSettlement.id });
    // @ts-expect-error - a paper order id in a live ledger entry
    void live.recordLedgerEntry({ platform_id: 'kalshi', entry_type: 'fee', amount: new Decimal('-1'), order_id: paperOrder.id });
    // @ts-expect-error - a paper ledger entry's trade id in a live ledger entry
    void live.recordLedgerEntry({ platform_id: 'kalshi', entry_type: 'trade', amount: new Decimal('-1'), trade_id: paperEntry.trade_id });
  });

  it('refuses mixing paper rows into live ones', () => {
    // @ts-expect-error - a paper ledger entry where live ones are reconciled
    reconcileLive([liveEntry, paperEntry]);
    // @ts-expect-error - a paper balance is not a live one
    const balance: Live<GetCurrentBalanceResult> = paperBalance;
    void balance;
    // @ts-expect-error - a paper id swapped into a live row
    const swapped: Live<ListLedgerEntriesResult> = { ...liveEntry, order_id: paperOrder.id };
    void swapped;
  });
});
