// The same application in strict TypeScript: `tsc -p .` then `node dist/app.js`.
import pg from 'pg';
import { Decimal, precogDb, tradingConfigurationFromEnv, type Paper } from 'precog-db';
import type { ListOpenPositionsResult } from 'precog-db/queries';

function describe(position: Paper<ListOpenPositionsResult>): string {
  return `${position.market_id} ${position.side} ${position.quantity} @ ${position.entry_price.toFixed(2)}`;
}

const config = tradingConfigurationFromEnv();
const url = process.env['DATABASE_URL'];
if (!url) throw new Error('Set DATABASE_URL (in precog-db: DATABASE_URL=$(npm run -s db:url)).');
if (config.environment !== 'paper') throw new Error('This example trades on paper only.');
const pool = new pg.Pool({ connectionString: url });
try {
  const db = precogDb(pool);
  const ticker = `APPTS-${Date.now().toString(36).toUpperCase()}`;
  await db.shared.createMarket({
    ticker,
    platform_id: 'kalshi',
    title: 'An example market',
    market_type: 'binary',
    yes_price: new Decimal('0.4200'),
    no_price: new Decimal('0.5800'),
  });
  const paper = db.scope(config.environment, { api: config.kalshiMode });
  const opened = await paper.openPosition({
    market_id: `MKT-${ticker}`,
    side: 'YES',
    entry_price: new Decimal('0.42'),
    quantity: 10,
    fees: new Decimal('0.07'),
  });
  const open = await paper.listOpenPositions();
  const mine = open.find((position) => position.id === opened.id);
  if (!mine) throw new Error('the opened position is not listed');
  console.log(JSON.stringify({ environment: config.environment, listed: open.length, mine: describe(mine) }));
} finally {
  await pool.end();
}
