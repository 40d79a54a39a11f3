/*
  Comparing backtest runs (issue 14): each other, and paper trading of the same strategy version.
  A backtest scope sees one run only ([backtest-run]), so these read several runs (and paper) on
  purpose: they are cross-environment queries, served by db.crossEnvironment on the analyst
  connection, and every row names its environment (execution_environment) and its run.

  The measures, the same in both queries (money is NUMERIC, exact):
  - realized_pnl: sum of realized_pnl of the current version of each closed or settled position,
    which is net of every fee, entry and exit (see positions.sql); 0 when none.
  - positions_closed: closed or settled positions (current versions); winning_positions: those
    with realized_pnl > 0 (a break-even position does not win).
  - win_rate: winning_positions / positions_closed, rounded to 4 decimal places; NULL when no
    position was closed.
  - max_drawdown: the largest peak-to-trough fall of cumulative realized P&L, the positions
    taken in order of exit_time (then id). The curve starts at 0 before the first exit, so a
    first losing position is a drawdown from 0. Reported as a positive amount (or 0: the curve
    never fell below its running peak).
  - trade_count: trades (fills); fees: sum of the trades' fees, 0 when none. Position fees are
    not added again: they are already inside realized_pnl.
*/

/*
  Backtest runs side by side, one row per run, newest first: the runs of :run_ids, or every run
  of :strategy_id, or both filters at once (neither: every run). A run's measures cover all of
  its rows (its rows are its simulated period).
*/
/* @name compareBacktestRuns */
-- cross-environment: compares backtest runs side by side, which no single run's scope can see; every row names its run
-- environments: backtest
SELECT
  'backtest'::execution_environment AS execution_environment,
  r.id AS backtest_run_id,
  r.strategy_id, r.strategy_version, r.model_id, r.model_version, r.parameters,
  r.period_start, r.period_end, r.status, r.label,
  t.trade_count,
  t.fees,
  c.positions_closed,
  c.winning_positions,
  round(c.winning_positions::numeric / nullif(c.positions_closed, 0), 4) AS win_rate,
  c.realized_pnl,
  c.max_drawdown
FROM backtest_runs r
-- LATERAL, one run at a time: each reads its own run's partitions only (run-time pruning).
CROSS JOIN LATERAL (
  SELECT count(*) AS trade_count, coalesce(sum(tr.fees), 0) AS fees
  FROM trades tr
  WHERE tr.execution_environment = 'backtest' AND tr.backtest_run_id = r.id
) t
CROSS JOIN LATERAL (
  SELECT count(*) AS positions_closed,
         count(*) FILTER (WHERE peaks.realized_pnl > 0) AS winning_positions,
         coalesce(sum(peaks.realized_pnl), 0) AS realized_pnl,
         coalesce(max(peaks.peak - peaks.cumulative), 0) AS max_drawdown
  FROM (
    SELECT curve.realized_pnl, curve.cumulative,
           greatest(0, max(curve.cumulative) OVER (ORDER BY curve.exit_time, curve.id ROWS UNBOUNDED PRECEDING)) AS peak
    FROM (
      SELECT p.realized_pnl, p.exit_time, p.id,
             sum(p.realized_pnl) OVER (ORDER BY p.exit_time, p.id ROWS UNBOUNDED PRECEDING) AS cumulative
      FROM positions p
      WHERE p.execution_environment = 'backtest' AND p.backtest_run_id = r.id
        AND p.row_current_ind AND p.status IN ('closed', 'settled')
    ) curve
  ) peaks
) c
WHERE (:run_ids::bigint[] IS NULL OR r.id = ANY (:run_ids::bigint[]))
  AND (:strategy_id::integer IS NULL OR r.strategy_id = :strategy_id::integer)
ORDER BY r.id DESC;

/*
  One backtest run against paper trading of the same strategy version over the same period: two
  rows, the run's (execution_environment backtest, backtest_run_id the run) and paper's
  (execution_environment paper, backtest_run_id NULL: paper rows belong to no run); both carry
  compared_run_id, the run compared, and its strategy and period. Paper's side is the paper
  trades of the run's strategy_id executed in [period_start, period_end) and its closed or
  settled positions (current versions) with an exit in [period_start, period_end); the run's side
  is all of the run's rows. No row when there is no such run; a run without a strategy (made
  before runs had one) has an empty paper side.
*/
/* @name compareBacktestRunWithPaper */
-- cross-environment: puts one backtest run beside paper trading of its strategy; each row names its environment and run
-- environments: paper, backtest
WITH run AS (
  SELECT r.id, r.strategy_id, r.strategy_version, r.period_start, r.period_end
  FROM backtest_runs r
  WHERE r.id = :run_id!::bigint
),
sides AS (
  SELECT 'backtest'::execution_environment AS execution_environment, run.id AS backtest_run_id FROM run
  UNION ALL
  SELECT 'paper'::execution_environment, NULL::bigint FROM run
),
side_trades AS (
  SELECT t.execution_environment, t.fees
  FROM trades t, run
  -- The parameter, not run.id: the planner then reads this run's partition only.
  WHERE t.execution_environment = 'backtest' AND t.backtest_run_id = :run_id!::bigint AND t.backtest_run_id = run.id
  UNION ALL
  SELECT t.execution_environment, t.fees
  FROM trades t, run
  WHERE t.execution_environment = 'paper'
    AND t.strategy_id = run.strategy_id
    AND t.execution_time >= run.period_start AND t.execution_time < run.period_end
),
trade_stats AS (
  SELECT execution_environment, count(*) AS trade_count, sum(fees) AS fees
  FROM side_trades
  GROUP BY execution_environment
),
side_positions AS (
  SELECT p.execution_environment, p.realized_pnl, p.exit_time, p.id
  FROM positions p, run
  WHERE p.execution_environment = 'backtest' AND p.backtest_run_id = :run_id!::bigint AND p.backtest_run_id = run.id
    AND p.row_current_ind AND p.status IN ('closed', 'settled')
  UNION ALL
  SELECT p.execution_environment, p.realized_pnl, p.exit_time, p.id
  FROM positions p, run
  WHERE p.execution_environment = 'paper'
    AND p.strategy_id = run.strategy_id
    AND p.row_current_ind AND p.status IN ('closed', 'settled')
    AND p.exit_time >= run.period_start AND p.exit_time < run.period_end
),
curve AS (
  SELECT execution_environment, realized_pnl, exit_time, id,
         sum(realized_pnl) OVER (PARTITION BY execution_environment ORDER BY exit_time, id ROWS UNBOUNDED PRECEDING) AS cumulative
  FROM side_positions
),
peaks AS (
  SELECT execution_environment, realized_pnl, cumulative,
         greatest(0, max(cumulative) OVER (PARTITION BY execution_environment ORDER BY exit_time, id ROWS UNBOUNDED PRECEDING)) AS peak
  FROM curve
),
closed_stats AS (
  SELECT execution_environment,
         count(*) AS positions_closed,
         count(*) FILTER (WHERE realized_pnl > 0) AS winning_positions,
         sum(realized_pnl) AS realized_pnl,
         max(peak - cumulative) AS max_drawdown
  FROM peaks
  GROUP BY execution_environment
)
SELECT
  s.execution_environment,
  s.backtest_run_id,
  run.id AS compared_run_id,
  run.strategy_id, run.strategy_version, run.period_start, run.period_end,
  coalesce(t.trade_count, 0) AS trade_count,
  coalesce(t.fees, 0) AS fees,
  coalesce(c.positions_closed, 0) AS positions_closed,
  coalesce(c.winning_positions, 0) AS winning_positions,
  round(c.winning_positions::numeric / nullif(c.positions_closed, 0), 4) AS win_rate,
  coalesce(c.realized_pnl, 0) AS realized_pnl,
  coalesce(c.max_drawdown, 0) AS max_drawdown
FROM sides s
CROSS JOIN run
LEFT JOIN trade_stats t ON t.execution_environment = s.execution_environment
LEFT JOIN closed_stats c ON c.execution_environment = s.execution_environment
ORDER BY s.execution_environment;
