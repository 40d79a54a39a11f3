// Resolved through node_modules/precog-db and its exports map, like any application.
import { Decimal, precogDb, type Live, type Paper, type Pool } from 'precog-db';
import type { ListOpenPositionsResult } from 'precog-db/queries';

declare const pool: Pool;
declare function sellLive(position: Live<ListOpenPositionsResult>): void;

export async function app(): Promise<void> {
  const paper = precogDb(pool).scope('paper', { api: 'demo' });
  const row = await paper.openPosition({
    market_id: 'MKT-X',
    side: 'YES',
    entry_price: new Decimal('0.5'),
    quantity: 1,
    fees: new Decimal('0'),
  });
  const paperRow: Paper<ListOpenPositionsResult> | undefined = (await paper.listOpenPositions())[0];
  void row;
  // @ts-expect-error - a paper row where a live one is required
  sellLive(paperRow!);
}
