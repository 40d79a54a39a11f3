// A plain-Node application using precog-db: `DATABASE_URL=... node app.mjs`.
// It opens a paper position and lists the open paper positions. No TypeScript, no tsx.
import pg from 'pg';
import { Decimal, precogDb, tradingConfigurationFromEnv } from 'precog-db';

// PRECOG_ENV / KALSHI_MODE from the environment (defaults: development on the demo API → paper).
const config = tradingConfigurationFromEnv();
if (!process.env.DATABASE_URL) throw new Error('Set DATABASE_URL (in precog-db: DATABASE_URL=$(npm run -s db:url)).');
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
try {
  const db = precogDb(pool);
  const ticker = `APP-${Date.now().toString(36).toUpperCase()}`;
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
  console.log(
    JSON.stringify({
      environment: config.environment,
      opened: opened.id,
      listed: open.length,
      found: mine !== undefined,
      entry_price: mine?.entry_price.toFixed(2),
      priceIsDecimal: mine?.entry_price instanceof Decimal,
    }),
  );
} finally {
  await pool.end();
}
