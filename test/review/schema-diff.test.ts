/** Two snapshots → the lines a reviewer reads, object by object. */
import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../src/review/schema-diff.js';
import { renderBlocks, type Block } from '../../src/schema/snapshot-format.js';

const table = (columns: string[]): Block => ({ kind: 'table', name: 'trades', body: `CREATE TABLE trades (\n${columns.map((c) => `    ${c}`).join(',\n')}\n);` });
const view = (where: string): Block => ({ kind: 'view', name: 'live_trades', body: `CREATE VIEW live_trades AS\nSELECT id\n   FROM trades\n  WHERE ${where};` });

describe('schema diff', () => {
  it('describes column, index, view, enum, grant and comment changes in reviewer words', () => {
    const base = renderBlocks([
      { kind: 'type', name: 'execution_environment', body: "CREATE TYPE execution_environment AS ENUM (\n    'live',\n    'paper'\n);" },
      table(['id integer NOT NULL GENERATED ALWAYS AS IDENTITY', 'fees numeric(10,4) NOT NULL DEFAULT 0', 'order_id text', 'legacy text']),
      { kind: 'index', name: 'idx_old', body: 'CREATE INDEX idx_old ON public.trades USING btree (order_id);' },
      view("execution_environment = 'live'::execution_environment"),
      { kind: 'grant', name: 'table trades to precog_live', body: 'GRANT SELECT ON TABLE trades TO precog_live;' },
      { kind: 'comment', name: 'column trades.fees', body: "COMMENT ON COLUMN trades.fees IS 'Fees.';" },
    ]);
    const head = renderBlocks([
      { kind: 'type', name: 'execution_environment', body: "CREATE TYPE execution_environment AS ENUM (\n    'live',\n    'paper',\n    'backtest'\n);" },
      table(['id integer NOT NULL GENERATED ALWAYS AS IDENTITY', 'fees numeric(12,4) NOT NULL', 'order_id text NOT NULL', 'venue text DEFAULT \'kalshi\'::text']),
      { kind: 'index', name: 'idx_x', body: 'CREATE INDEX idx_x ON public.trades USING btree (venue);' },
      view("execution_environment = 'paper'::execution_environment"),
      { kind: 'grant', name: 'table trades to precog_live', body: 'GRANT INSERT, SELECT ON TABLE trades TO precog_live;' },
      { kind: 'comment', name: 'column trades.fees', body: "COMMENT ON COLUMN trades.fees IS 'Fees in dollars.';" },
      { kind: 'role', name: 'precog_live', body: 'CREATE ROLE precog_live;' },
    ]);
    expect(diffSnapshots(base, head).map((change) => change.text)).toEqual([
      "enum execution_environment: value 'backtest' added",
      'trades.fees: numeric(10,4) → numeric(12,4)',
      'trades.fees: default 0 → none',
      'trades.order_id: now NOT NULL',
      "trades.venue added: text nullable DEFAULT 'kalshi'::text",
      'trades.legacy removed',
      'index idx_old removed',
      'index idx_x added',
      'view live_trades: definition changed',
      'role precog_live added',
      'grant on table trades to precog_live: SELECT → INSERT, SELECT',
      'comment on column trades.fees changed',
    ]);
  });

  it('says role attributes and memberships in words: they undo row-level security', () => {
    const roles = (paper: string, memberships: Block[] = []) => renderBlocks([
      { kind: 'role', name: 'precog_live', body: 'CREATE ROLE precog_live;' },
      ...memberships,
      { kind: 'role', name: 'precog_paper', body: paper },
    ]);
    const membership: Block = { kind: 'membership', name: 'precog_paper in precog_live', body: 'GRANT precog_live TO precog_paper;' };
    expect(diffSnapshots(roles('CREATE ROLE precog_paper;'), roles('CREATE ROLE precog_paper BYPASSRLS;', [membership])).map((change) => change.text)).toEqual([
      'role precog_paper: no attributes → BYPASSRLS',
      'role membership added: `GRANT precog_live TO precog_paper`',
    ]);
  });

  it('finds no change between identical snapshots', () => {
    const text = renderBlocks([table(['id integer NOT NULL'])]);
    expect(diffSnapshots(text, text)).toEqual([]);
  });
});
