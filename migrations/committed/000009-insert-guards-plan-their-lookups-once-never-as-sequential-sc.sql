--! Previous: sha1:4b91531118f6a26d713c55b41226df8d92c568e5
--! Hash: sha1:cd8cd83a0f1196ce06034f5c19ca288dadcc43a3
--! Message: Insert guards plan their lookups once, never as sequential scans

-- The insert guards of trades and positions look rows up in the partitioned positions table
-- once per inserted row. Two things made bulk loads slow, quadratic at worst:
-- - plpgsql planned each lookup anew for every row (custom plans; with partitions, planning
--   costs ~0.7 ms, many times the lookup itself);
-- - right after purge_backtest_data() the backtest partition is empty and analyzed, so a plan
--   made then reads it sequentially, and keeps doing so as a bulk load fills it.
-- Each guard's lookup is an index lookup by key whatever the statistics say: plan it once per
-- session (runtime partition pruning still applies), never as a sequential scan.
ALTER FUNCTION positions_guard_insert() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION positions_guard_insert() SET enable_seqscan = off;
ALTER FUNCTION trades_guard_insert() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION trades_guard_insert() SET enable_seqscan = off;
