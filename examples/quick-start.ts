import pg from 'pg';
import { Decimal, precogDb, type Live, type NonLive } from 'precog-db';
import type { ListOpenPositionsResult, ListTrainingDataTradesResult } from 'precog-db/queries';

declare function sell(position: Live<ListOpenPositionsResult>): Promise<void>;
declare function train(trades: readonly NonLive<ListTrainingDataTradesResult>[]): void;

export async function quickStart(pool: pg.Pool) {
  const db = precogDb(pool);
  const paper = db.scope('paper', { api: 'demo' }); // a paper scope trades through the demo API only
  const live = db.scope('live', { api: 'live' });

  const position = await paper.openPosition({
    market_id: 'MKT-KXNFLGAME-BUF',
    side: 'YES',
    entry_price: new Decimal('0.42'), // money is Decimal, never a float
    quantity: 10,
    fees: new Decimal('0.07'),
  }); // exactly one row (INSERT ... VALUES ... RETURNING): Paper<...>, position.id: PositionId<'paper'>

  for (const open of await live.listOpenPositions()) await sell(open); // live rows only
  // sell(position);                   // does not compile: a paper row where a live one is required
  // live.getPositionById({ id: position.id }); // does not compile: a paper id in the live scope

  const again = await paper.getPositionById({ id: position.id }); // a lookup by key: the row or undefined
  if (again) console.log(again.status);

  train(await db.crossEnvironment.listTrainingDataTrades({ from: new Date(0), to: new Date() }));
}
