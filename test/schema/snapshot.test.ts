/** The snapshot depends on the migrations only: two independent builds give the same bytes. */
import { migrate, watch } from 'graphile-migrate';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDatabase, freshDatabase } from '../../src/migrations/fresh-database.js';
import { quietLogger } from '../../src/migrations/logger.js';
import { migrateSettings } from '../../src/migrations/settings.js';
import { ensureDatabase } from '../../src/server/resolve.js';
import { schemaDocs } from '../../src/schema/schema-docs.js';
import { parseSnapshot } from '../../src/schema/snapshot-format.js';
import { schemaSnapshot } from '../../src/schema/snapshot.js';
import { testServer } from '../support/db.js';

const cloned = `precog_test_snapshot_a_${process.pid}`;
const migrated = `precog_test_snapshot_b_${process.pid}`;

describe('schema snapshot', () => {
  afterAll(async () => {
    await dropDatabase(testServer(), cloned);
    await dropDatabase(testServer(), migrated);
  });

  it('is byte-identical for a template clone and a database migrated step by step', async () => {
    const server = testServer();
    await freshDatabase(server, cloned, { includeCurrent: true });
    // The second build does not use the template: every migration runs again from nothing.
    await dropDatabase(server, migrated);
    await ensureDatabase(server, migrated);
    const settings = { ...migrateSettings(server, migrated), logger: quietLogger };
    await migrate(settings);
    await watch(settings, true);

    const [a, b] = [await schemaSnapshot(server, cloned), await schemaSnapshot(server, migrated)];
    expect(b).toBe(a);
    expect(await schemaDocs(server, migrated)).toBe(await schemaDocs(server, cloned));
    // Nothing run- or machine-dependent: no superuser, no database names, no versions.
    expect(a.split('\n').filter((line) => /\bpostgres\b|precog_test|PostgreSQL \d+\.\d/i.test(line))).toEqual([]);
  });

  it('covers every object kind the migrations create', async () => {
    const blocks = [...parseSnapshot(await schemaSnapshot(testServer(), cloned)).keys()];
    for (const key of [
      'table: trades', 'type: execution_environment', 'view: live_trades', 'view: training_data_trades',
      'index: idx_trades_environment', 'constraint: trades.trades_pkey', 'function: precog_references_trades()',
      'function: precog_environment_update_guard()', 'trigger: trades.environment_update_guard', 'row security: trades',
      'policy: trades."[environment-role] live rows only"', 'role: precog_live', 'grant: table trades to precog_live',
      'comment: column trades.execution_environment', 'sequence: position_key_seq',
    ]) expect(blocks).toContain(key);
  });

  it('shows a column as its type with typmod, NOT NULL and default', async () => {
    const snapshot = await schemaSnapshot(testServer(), cloned);
    expect(snapshot).toContain('    fees numeric(10,4) NOT NULL DEFAULT 0,');
    expect(snapshot).toContain(
      "    execution_environment execution_environment NOT NULL,\n    backtest_run_id bigint DEFAULT (NULLIF(current_setting('precog.backtest_run'::text, true), ''::text))::bigint\n);",
    );
  });
});
