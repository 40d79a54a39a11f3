/**
 * Hardening II, class 5: squatting on what live will need.
 *
 * The attacks: a paper or backtest process takes the next position keys live will mint (from
 * position_key_seq, which every environment role may read), committed or held uncommitted, so
 * that the live application's next openPosition fails, or waits. The live call is the
 * application's own (a live scope of precogDb on the live login).
 */
import { describe, expect, it } from 'vitest';
import { Decimal, precogDb } from '../../src/index.js';
import { copyOf, ident, insertableColumns, loadFixtures } from '../support/environment-registry.js';
import { attackBench, endAll, enterRun } from './support.js';

const withBench = attackBench();

const position = { market_id: 'MKT-RULES', side: 'YES' as const, entry_price: new Decimal('0.40'), quantity: 1, fees: new Decimal('0.01') };

// Skipped: not fixed (Hardening II left class 5 open). Live mints 'POS-' || nextval(position_key_seq),
// a sequence every environment role reads, and a versioned key belongs to the first environment
// that registers it (precog_environment_keys, [environment-immutable]), so a key taken ahead by paper
// makes live's insert fail, and one held uncommitted makes it wait. Closing it takes a key space
// per environment (keys minted per environment, and the key guard refusing a non-live row a key of
// live's space): a change of the keys' format and of openPosition, to be decided in an ADR. Unskip
// with that change; it passes nowhere today.
describe.skip('class 5: a non-live process cannot make a live write fail or wait', () => {
  it('keys taken ahead by paper and backtest logins, committed or held uncommitted, leave live openPosition working', async () => {
    await withBench(async ({ owner, registry, run, login }) => {
      const client = await owner.connect();
      const fixtures = await loadFixtures(client, registry).finally(() => client.release());
      const positions = registry.tables.find((t) => t.name === 'positions')!;
      const columns = insertableColumns(positions).map(ident).join(', ');
      const squatters = [
        { login: await login('precog_paper'), environment: 'paper' as const },
        { login: await login('precog_backtest'), environment: 'backtest' as const },
      ];
      const holder = squatters[0]!.login;
      try {
        for (const [i, squatter] of squatters.entries()) {
          // The next keys, as the sequence will mint them: committed by each squatter.
          const { rows: [seq] } = await squatter.login.query<{ next: string }>(`SELECT (last_value + 1)::text AS next FROM public.position_key_seq`);
          await squatter.login.query('BEGIN');
          if (squatter.environment === 'backtest') await enterRun(squatter.login, run);
          for (let k = 0; k < 5; k++) {
            const row = copyOf(positions, fixtures.positions![squatter.environment].free, { position_key: `POS-${BigInt(seq!.next) + BigInt(k + i * 5)}` });
            await squatter.login.query(`INSERT INTO positions (${columns}) SELECT ${columns} FROM jsonb_populate_record(NULL::positions, $1::jsonb)`, [JSON.stringify(row)]).catch(() => undefined);
          }
          await squatter.login.query('COMMIT');
        }
        // And one held uncommitted: the key after those.
        const { rows: [seq] } = await holder.query<{ next: string }>(`SELECT (last_value + 1)::text AS next FROM public.position_key_seq`);
        await holder.query('BEGIN');
        for (let k = 0; k < 15; k++) {
          const row = copyOf(positions, fixtures.positions!.paper.free, { position_key: `POS-${BigInt(seq!.next) + BigInt(k)}` });
          await holder.query('SAVEPOINT s');
          await holder.query(`INSERT INTO positions (${columns}) SELECT ${columns} FROM jsonb_populate_record(NULL::positions, $1::jsonb)`, [JSON.stringify(row)]).then(
            () => holder.query('RELEASE SAVEPOINT s'),
            () => holder.query('ROLLBACK TO SAVEPOINT s'),
          );
        }
        // The live application on the live login, with a lock wait refused rather than endured.
        const live = await login('precog_live');
        try {
          await live.query(`SET lock_timeout = '10s'`);
          const db = precogDb({ live });
          for (let k = 0; k < 20; k++) {
            const opened = await db.scope('live', { api: 'live' }).openPosition(position);
            expect(opened.execution_environment).toBe('live');
          }
        } finally {
          await endAll([live]);
        }
      } finally {
        await holder.query('ROLLBACK').catch(() => undefined);
        await endAll(squatters.map((s) => s.login));
      }
    });
  });
});
