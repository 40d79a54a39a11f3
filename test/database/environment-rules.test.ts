/**
 * Issue 5, "The database enforces the rule": every rule attempted in raw SQL, as the owner and
 * as each role, against the real server. Each attempt runs in a savepoint of a rolled-back
 * transaction on the shared test database.
 */
import { describe, expect, it } from 'vitest';
import { ACTORS, attempt, seedEveryEnvironment, SCD_PRICE_UPDATE, type Actor, type Attempt, type Seed } from '../support/environment-fixtures.js';
import { withRollback } from '../support/db.js';

/** What an attempt must do. Every kind except `allowed` and `rows` is a refusal. */
type Outcome =
  | { rule: string } // a trigger of migrations 000003-000005: "[rule] ..." with a HINT
  | { denied: true } // no privilege: 42501 "permission denied"
  | { foreignKey: string } // 23503 naming the constraint
  | { invisible: true } // row-level security hides the row: the statement affects 0 rows
  | { allowed: true }
  | { rows: number }; // a SELECT count(*) AS n

interface RuleCase {
  name: string;
  sql: (seed: Seed) => { text: string; params?: unknown[] };
  expect: Record<Actor, Outcome>;
}

const ROLE_RULES = { precog_live: 0, precog_paper: 0, precog_backtest: 0 };
const rule = (name: string) => ({ rule: name });
const denied = { denied: true } as const;
const invisible = { invisible: true } as const;
const allowed = { allowed: true } as const;
/** The same outcome for the owner and the three environment roles; the analyst has no write privilege. */
const everyWriter = (outcome: Outcome): Record<Actor, Outcome> => ({
  owner: outcome,
  ...Object.fromEntries(Object.keys(ROLE_RULES).map((role) => [role, outcome])),
  precog_analyst: denied,
}) as Record<Actor, Outcome>;
/** A trigger refuses the owner; the roles have no privilege for the statement at all. */
const ownerRuleRolesDenied = (name: string): Record<Actor, Outcome> => ({
  owner: rule(name),
  precog_live: denied,
  precog_paper: denied,
  precog_backtest: denied,
  precog_analyst: denied,
});
/** A write to a paper row: the owner and the paper role meet the rule, the other roles cannot see the row. */
const paperRowRule = (name: string): Record<Actor, Outcome> => ({
  owner: rule(name),
  precog_live: invisible,
  precog_paper: rule(name),
  precog_backtest: invisible,
  precog_analyst: denied,
});

const NEW_POSITION = `INSERT INTO positions (position_key, market_id, side, entry_price, quantity, status{env})
                      VALUES ('POS-' || nextval('position_key_seq'), 'MKT-RULES', 'YES', 0.5, 1, 'open'{value})`;
const NEW_TRADE = `INSERT INTO trades (market_id, position_id, side, price, quantity, trade_source, order_type{env})
                   VALUES ('MKT-RULES', {position}, 'buy', 0.5, 1, 'manual', 'limit'{value})`;
const withEnv = (sql: string, env?: string, position = 'NULL') =>
  sql
    .replace('{env}', env ? ', execution_environment' : '')
    .replace('{value}', env ? `, '${env}'` : '')
    .replace('{position}', position);

const CASES: RuleCase[] = [
  // No silent default
  {
    name: 'environment-required: a position inserted without execution_environment',
    sql: () => ({ text: withEnv(NEW_POSITION) }),
    expect: everyWriter(rule('environment-required')),
  },
  {
    name: 'environment-required: a trade inserted without execution_environment',
    sql: () => ({ text: withEnv(NEW_TRADE) }),
    expect: everyWriter(rule('environment-required')),
  },
  // The environment never changes
  {
    name: 'environment-immutable: UPDATE of a trade\'s environment (paper -> live)',
    sql: (s) => ({ text: `UPDATE trades SET execution_environment = 'live' WHERE id = $1`, params: [s.paper.tradeId] }),
    expect: ownerRuleRolesDenied('environment-immutable'),
  },
  {
    name: 'environment-immutable: UPDATE of a current position version\'s environment (paper -> live)',
    sql: (s) => ({ text: `UPDATE positions SET execution_environment = 'live' WHERE id = $1`, params: [s.paper.currentId] }),
    expect: paperRowRule('environment-immutable'),
  },
  {
    name: 'environment-immutable: UPDATE of a superseded position version\'s environment (paper -> backtest)',
    sql: (s) => ({ text: `UPDATE positions SET execution_environment = 'backtest' WHERE id = $1`, params: [s.paper.oldId] }),
    expect: paperRowRule('environment-immutable'),
  },
  {
    name: 'environment-immutable: a paper version of a live position (the copy-forward of bug #662, reversed)',
    sql: (s) => ({
      text: `WITH closed AS (UPDATE positions SET row_current_ind = false, row_end_ts = now() WHERE position_key = $1 AND row_current_ind RETURNING 1)
             INSERT INTO positions (position_key, market_id, side, entry_price, quantity, status, execution_environment)
             VALUES ($1, 'MKT-RULES', 'YES', 0.5, 1, 'open', 'paper')`,
      params: [s.live.key],
    }),
    // The live role closes its version and is stopped at the insert; the others cannot see the live
    // versions, but the (SECURITY DEFINER) guard does.
    expect: everyWriter(rule('environment-immutable')),
  },
  {
    name: 'environment-immutable: a live version of a paper position (bug #662 exactly)',
    sql: (s) => ({
      text: `INSERT INTO positions (position_key, market_id, side, entry_price, quantity, status, execution_environment, row_current_ind, row_end_ts, row_start_ts)
             VALUES ($1, 'MKT-RULES', 'YES', 0.5, 1, 'open', 'live', false, now(), now())`,
      params: [s.paper.key],
    }),
    expect: everyWriter(rule('environment-immutable')),
  },
  // No reference across environments
  {
    name: 'environment-cross-reference: a paper trade referencing a live position version',
    sql: (s) => ({ text: withEnv(NEW_TRADE, 'paper', String(s.live.currentId)) }),
    expect: {
      owner: rule('environment-cross-reference'),
      // The live role sees the live position and is told so; the paper role cannot see it, and the
      // composite foreign key (RI checks ignore row-level security) refuses it.
      precog_live: rule('environment-cross-reference'),
      precog_paper: { foreignKey: 'trades_position_same_environment_fkey' },
      precog_backtest: rule('environment-role'),
      precog_analyst: denied,
    },
  },
  {
    name: 'environment-cross-reference: a live trade referencing a backtest position version',
    sql: (s) => ({ text: withEnv(NEW_TRADE, 'live', String(s.backtest.currentId)) }),
    expect: {
      owner: rule('environment-cross-reference'),
      precog_live: { foreignKey: 'trades_position_same_environment_fkey' },
      precog_paper: rule('environment-role'),
      precog_backtest: rule('environment-cross-reference'),
      precog_analyst: denied,
    },
  },
  // Roles write only their own environment
  {
    name: 'environment-role: a new live position',
    sql: () => ({ text: withEnv(NEW_POSITION, 'live') }),
    expect: { owner: allowed, precog_live: allowed, precog_paper: rule('environment-role'), precog_backtest: rule('environment-role'), precog_analyst: denied },
  },
  {
    name: 'environment-role: a new live trade',
    sql: () => ({ text: withEnv(NEW_TRADE, 'live') }),
    expect: { owner: allowed, precog_live: allowed, precog_paper: rule('environment-role'), precog_backtest: rule('environment-role'), precog_analyst: denied },
  },
  {
    name: 'environment-role: a new paper trade',
    sql: () => ({ text: withEnv(NEW_TRADE, 'paper') }),
    expect: { owner: allowed, precog_live: rule('environment-role'), precog_paper: allowed, precog_backtest: rule('environment-role'), precog_analyst: denied },
  },
  {
    name: 'environment-role: a new live position written through the live_positions view',
    sql: () => ({ text: NEW_POSITION.replace('INTO positions', 'INTO live_positions').replace('{env}', ', execution_environment').replace('{value}', `, 'live'`) }),
    expect: { owner: allowed, precog_live: allowed, precog_paper: denied, precog_backtest: denied, precog_analyst: denied },
  },
  // Live history is kept
  {
    name: 'trades-append-only: UPDATE of a paper trade\'s price',
    sql: (s) => ({ text: `UPDATE trades SET price = 0.99 WHERE id = $1`, params: [s.paper.tradeId] }),
    expect: ownerRuleRolesDenied('trades-append-only'),
  },
  {
    name: 'trades-append-only: UPDATE of a live trade\'s quantity',
    sql: (s) => ({ text: `UPDATE trades SET quantity = quantity + 1 WHERE id = $1`, params: [s.live.tradeId] }),
    expect: ownerRuleRolesDenied('trades-append-only'),
  },
  {
    name: 'live-history-kept: DELETE of a live trade',
    sql: (s) => ({ text: `DELETE FROM trades WHERE id = $1`, params: [s.live.tradeId] }),
    expect: ownerRuleRolesDenied('live-history-kept'),
  },
  {
    name: 'live-history-kept: DELETE of a live position version (trades first)',
    sql: (s) => ({ text: `DELETE FROM positions WHERE id = $1`, params: [s.live.oldId] }),
    expect: ownerRuleRolesDenied('live-history-kept'),
  },
  {
    name: 'live-history-kept: TRUNCATE of trades and positions',
    sql: () => ({ text: `TRUNCATE trades, positions` }),
    expect: ownerRuleRolesDenied('live-history-kept'),
  },
  {
    // Partitioned by environment (000008): only the backtest partitions may be truncated.
    name: 'live-history-kept: TRUNCATE of the live partitions',
    sql: () => ({ text: `TRUNCATE trades_live, positions_live` }),
    expect: ownerRuleRolesDenied('live-history-kept'),
  },
  {
    name: 'live-history-kept: TRUNCATE of the paper partitions',
    sql: () => ({ text: `TRUNCATE trades_paper, positions_paper` }),
    expect: ownerRuleRolesDenied('live-history-kept'),
  },
  {
    name: 'deliberate deletes: DELETE of a paper trade (owner only; roles purge through purge_backtest_data)',
    sql: (s) => ({ text: `DELETE FROM trades WHERE id = $1`, params: [s.paper.tradeId] }),
    expect: { owner: allowed, precog_live: denied, precog_paper: denied, precog_backtest: denied, precog_analyst: denied },
  },
  {
    name: 'position-history-immutable: UPDATE of a superseded paper version',
    sql: (s) => ({ text: `UPDATE positions SET current_price = 0.9 WHERE id = $1`, params: [s.paper.oldId] }),
    expect: paperRowRule('position-history-immutable'),
  },
  {
    name: 'position-history-immutable: re-opening a superseded paper version',
    sql: (s) => ({ text: `UPDATE positions SET row_current_ind = true, row_end_ts = NULL WHERE id = $1`, params: [s.paper.oldId] }),
    expect: paperRowRule('position-history-immutable'),
  },
  {
    name: 'position-version-immutable: UPDATE in place of a current paper version',
    sql: (s) => ({ text: `UPDATE positions SET quantity = 99 WHERE id = $1`, params: [s.paper.currentId] }),
    expect: paperRowRule('position-version-immutable'),
  },
  {
    name: 'position-version-immutable: UPDATE of a live position\'s price in place (not a new version)',
    sql: (s) => ({ text: `UPDATE positions SET current_price = 0.01 WHERE position_key = $1 AND row_current_ind`, params: [s.live.key] }),
    expect: { owner: rule('position-version-immutable'), precog_live: rule('position-version-immutable'), precog_paper: invisible, precog_backtest: invisible, precog_analyst: denied },
  },
  // Reads: a role sees only its environment; the analyst sees all
  {
    name: 'row-level security: reading live trades from the table',
    sql: (s) => ({ text: `SELECT count(*)::int AS n FROM trades WHERE id = $1`, params: [s.live.tradeId] }),
    expect: { owner: { rows: 1 }, precog_live: { rows: 1 }, precog_paper: { rows: 0 }, precog_backtest: { rows: 0 }, precog_analyst: { rows: 1 } },
  },
  {
    name: 'row-level security: reading live trades through ADR-107\'s live_trades view (security_invoker)',
    sql: (s) => ({ text: `SELECT count(*)::int AS n FROM live_trades WHERE id = $1`, params: [s.live.tradeId] }),
    expect: { owner: { rows: 1 }, precog_live: { rows: 1 }, precog_paper: { rows: 0 }, precog_backtest: { rows: 0 }, precog_analyst: { rows: 1 } },
  },
  {
    name: 'row-level security: reading every version of the live position through live_positions',
    sql: (s) => ({ text: `SELECT count(*)::int AS n FROM live_positions WHERE position_key = $1`, params: [s.live.key] }),
    expect: { owner: { rows: 2 }, precog_live: { rows: 2 }, precog_paper: { rows: 0 }, precog_backtest: { rows: 0 }, precog_analyst: { rows: 2 } },
  },
  {
    name: 'row-level security: reading backtest trades through training_data_trades',
    sql: (s) => ({ text: `SELECT count(*)::int AS n FROM training_data_trades WHERE id = $1`, params: [s.backtest.tradeId] }),
    expect: { owner: { rows: 1 }, precog_live: { rows: 0 }, precog_paper: { rows: 0 }, precog_backtest: { rows: 1 }, precog_analyst: { rows: 1 } },
  },
  {
    name: 'row-level security: closing another environment\'s current position version cannot reach it',
    sql: (s) => ({ text: `UPDATE positions SET row_current_ind = false, row_end_ts = clock_timestamp() WHERE id = $1`, params: [s.live.currentId] }),
    // Closing a current version is the legitimate SCD step, for the live role and the owner only.
    expect: { owner: allowed, precog_live: allowed, precog_paper: invisible, precog_backtest: invisible, precog_analyst: denied },
  },
  // The deliberate purge path
  {
    name: 'purge_backtest_data(): executable by the owner and precog_backtest only',
    sql: () => ({ text: `SELECT * FROM purge_backtest_data()` }),
    expect: { owner: allowed, precog_live: denied, precog_paper: denied, precog_backtest: allowed, precog_analyst: denied },
  },
  // Shared tables
  {
    name: 'shared tables: the analyst is read-only',
    sql: () => ({
      text: `INSERT INTO markets (market_id, platform_id, ticker, title, market_type, yes_price, no_price)
             VALUES ('MKT-RULES-' || nextval('position_key_seq'), 'kalshi', 'RULES-' || currval('position_key_seq'), 'Rules', 'binary', 0.5, 0.5)`,
    }),
    // market_id must equal 'MKT-' || ticker: both use the same sequence value.
    expect: { owner: allowed, precog_live: allowed, precog_paper: allowed, precog_backtest: allowed, precog_analyst: denied },
  },
];

function check(outcome: Outcome, result: Attempt, label: string): void {
  const { error } = result;
  const got = error ? `${error.code} ${error.message}` : `ok, ${result.rowCount} rows ${JSON.stringify(result.rows)}`;
  const context = `${label}: got ${got}`;
  if ('rule' in outcome) {
    expect(error, context).toBeDefined();
    expect(error!.message, context).toMatch(new RegExp(`^\\[${outcome.rule}\\] `));
    expect(error!.code, context).toBe(outcome.rule === 'environment-role' ? '42501' : 'P0001');
    expect(error!.hint, `${context} (a HINT says what to do instead)`).toBeTruthy();
    expect(error!.table, context).toMatch(/^(trades|positions)$/);
  } else if ('denied' in outcome) {
    expect(error?.code, context).toBe('42501');
    expect(error!.message, context).toMatch(/^permission denied for (table|view|function) /);
  } else if ('foreignKey' in outcome) {
    expect(error?.code, context).toBe('23503');
    expect(error!.constraint, context).toBe(outcome.foreignKey);
  } else if ('invisible' in outcome) {
    expect(error, context).toBeUndefined();
    expect(result.rowCount, context).toBe(0);
  } else if ('allowed' in outcome) {
    expect(error, context).toBeUndefined();
    expect(result.rowCount, context).toBeGreaterThan(0);
  } else {
    expect(error, context).toBeUndefined();
    expect(result.rows[0]?.n, context).toBe(outcome.rows);
  }
}

const matrix = CASES.flatMap((rule) => ACTORS.map((actor) => [rule.name, actor, rule] as const));

describe('the database enforces environment isolation', () => {
  it.each(matrix)('%s, as %s', async (name, actor, ruleCase) => {
    await withRollback(async (client) => {
      const seed = await seedEveryEnvironment(client);
      const { text, params } = ruleCase.sql(seed);
      check(ruleCase.expect[actor], await attempt(client, actor, text, params), `${name} as ${actor}`);
    });
  });

  it('refuses at least one attempt of every rule, and names the rule in the message', () => {
    const refusedRules = new Set(
      CASES.flatMap((c) => Object.values(c.expect)).flatMap((o) => ('rule' in o ? [o.rule] : [])),
    );
    expect([...refusedRules].sort()).toEqual([
      'environment-cross-reference',
      'environment-immutable',
      'environment-required',
      'environment-role',
      'live-history-kept',
      'position-history-immutable',
      'position-version-immutable',
      'trades-append-only',
    ]);
    const refusals = matrix.filter(([, actor, c]) => !('allowed' in c.expect[actor]) && !('rows' in c.expect[actor]));
    expect(refusals.length).toBeGreaterThanOrEqual(100);
    console.info(`environment rules: ${CASES.length} cases x ${ACTORS.length} actors = ${matrix.length} attempts, ${refusals.length} of them refusals (${refusedRules.size} named rules)`);
  });
});

describe('legitimate operations still work', () => {
  it('the paper role opens a paper position, records a fill on it and writes a new SCD version', async () => {
    await withRollback(async (client) => {
      await client.query('SET LOCAL ROLE precog_paper');
      const { rows: [opened] } = await client.query<{ id: number; position_key: string }>(
        `INSERT INTO paper_positions (position_key, market_id, side, entry_price, quantity, current_price, status, execution_environment)
         VALUES ('POS-' || nextval('position_key_seq'), 'MKT-LEGIT', 'NO', 0.3, 5, 0.3, 'open', 'paper') RETURNING id, position_key`,
      );
      await client.query(
        `INSERT INTO trades (market_id, position_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
         VALUES ('MKT-LEGIT', $1, 'buy', 0.3, 5, 0.02, 'manual', 'limit', 'paper')`,
        [opened!.id],
      );
      const { rows: [next] } = await client.query(SCD_PRICE_UPDATE, [opened!.position_key, '0.0500']);
      expect(next).toMatchObject({ position_key: opened!.position_key, current_price: '0.3500', execution_environment: 'paper' });
      const { rows: history } = await client.query(
        'SELECT row_current_ind, current_price FROM paper_positions WHERE position_key = $1 ORDER BY id',
        [opened!.position_key],
      );
      expect(history).toEqual([
        { row_current_ind: false, current_price: '0.3000' },
        { row_current_ind: true, current_price: '0.3500' },
      ]);
    });
  });

  it('the analyst reads every environment, in the tables and through the views', async () => {
    await withRollback(async (client) => {
      const seed = await seedEveryEnvironment(client, 'MKT-ANALYST');
      await client.query('SET LOCAL ROLE precog_analyst');
      const { rows } = await client.query(
        `SELECT execution_environment, count(*)::int AS n FROM trades WHERE market_id = 'MKT-ANALYST' GROUP BY 1 ORDER BY 1`,
      );
      expect(rows).toEqual([
        { execution_environment: 'live', n: 1 },
        { execution_environment: 'paper', n: 1 },
        { execution_environment: 'backtest', n: 1 },
      ]);
      const views = await client.query(
        `SELECT (SELECT count(*) FROM live_trades WHERE market_id = 'MKT-ANALYST')::int AS live,
                (SELECT count(*) FROM paper_trades WHERE market_id = 'MKT-ANALYST')::int AS paper,
                (SELECT count(*) FROM backtest_positions WHERE position_key = $1)::int AS backtest_versions,
                (SELECT count(*) FROM training_data_trades WHERE market_id = 'MKT-ANALYST')::int AS training`,
        [seed.backtest.key],
      );
      expect(views.rows[0]).toEqual({ live: 1, paper: 1, backtest_versions: 2, training: 2 });
    });
  });

  it('every role reads every shared table', async () => {
    await withRollback(async (client) => {
      for (const role of ACTORS.filter((actor) => actor !== 'owner')) {
        for (const table of ['platforms', 'teams', 'strategies', 'probability_models', 'markets', 'game_states', 'historical_games', 'historical_odds', 'historical_elo']) {
          const result = await attempt(client, role, `SELECT count(*)::int AS n FROM ${table}`);
          expect(result.error, `${role} reading ${table}`).toBeUndefined();
        }
        const platform = await attempt(client, role, `SELECT name FROM platforms WHERE platform_id = 'kalshi'`);
        expect(platform.rows).toEqual([{ name: 'Kalshi' }]);
      }
    });
  });

  it('purge_backtest_data() removes every backtest row and nothing else', async () => {
    await withRollback(async (client) => {
      await seedEveryEnvironment(client, 'MKT-PURGE');
      const before = await client.query(`SELECT execution_environment, count(*)::int AS n FROM positions GROUP BY 1 ORDER BY 1`);
      await client.query('SET LOCAL ROLE precog_backtest');
      const { rows: [purged] } = await client.query('SELECT * FROM purge_backtest_data()');
      expect(Number(purged.trades_deleted)).toBeGreaterThanOrEqual(1);
      expect(Number(purged.positions_deleted)).toBeGreaterThanOrEqual(2);
      await client.query('RESET ROLE');
      const after = await client.query(`SELECT execution_environment, count(*)::int AS n FROM positions GROUP BY 1 ORDER BY 1`);
      expect(after.rows).toEqual(before.rows.filter((row) => row.execution_environment !== 'backtest'));
      const trades = await client.query(`SELECT DISTINCT execution_environment FROM trades WHERE market_id = 'MKT-PURGE' ORDER BY 1`);
      expect(trades.rows).toEqual([{ execution_environment: 'live' }, { execution_environment: 'paper' }]);
    });
  });
});
