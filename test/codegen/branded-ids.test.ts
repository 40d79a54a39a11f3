/**
 * The brands in generated/ are what the schema says, checked against the test database
 * independently of the emitter: the environment model read from its catalog, and each query's
 * result columns as the server describes them. Table names come from the model, not from a
 * list written here.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startup } from '@pgtyped/query';
import { getTypeData } from '@pgtyped/query/lib/actions.js';
import { processSQLQueryIR } from '@pgtyped/runtime';
import { AsyncQueue } from '@pgtyped/wire';
import { inject } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allQueries } from '../../generated/index.js';
import { codegen, GENERATED_DIR } from '../../src/codegen/codegen.js';
import { readEnvironmentModel, type EnvironmentModel, type Identity } from '../../src/environment/model.js';
import { connect } from '../../src/server/resolve.js';
import { testServer, withFreshDatabase } from '../support/db.js';

let model: EnvironmentModel;
const queue = new AsyncQueue();

beforeAll(async () => {
  const server = testServer();
  const client = await connect(server, inject('shared'));
  try {
    model = await readEnvironmentModel(client);
  } finally {
    await client.end();
  }
  await startup({ host: server.host, port: server.port, user: server.user, password: server.password, dbName: inject('shared') }, queue);
  queue.socket.setNoDelay(true);
});
afterAll(() => queue.socket.end());

const brand = (identity: Identity) => `${identity.kind === 'id' ? 'Id' : 'Key'}<'${identity.table}'`;

/** Fields of `export interface <name> { ... }` in a generated module: name → TypeScript type. */
function interfaceFields(text: string, name: string): Map<string, string> {
  const body = new RegExp(`^export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`, 'm').exec(text)?.[1] ?? '';
  return new Map([...body.matchAll(/^ {2}(\w+)\??: (.+);$/gm)].map((match) => [match[1]!, match[2]!]));
}

describe('the environment model', () => {
  it('finds the tagged tables, their ids and the foreign keys declared on partitions', () => {
    expect(model.tables.length).toBeGreaterThan(0);
    for (const table of model.tables.filter((t) => t.idColumn)) {
      expect(model.identifyColumn(table.name, table.idColumn!)).toEqual({ table: table.name, kind: 'id' });
    }
    // trades.position_id references positions' id through per-partition constraints only.
    const positionId = model.identifyColumn('trades', 'position_id');
    const positions = model.tables.find((table) => table.name === positionId?.table);
    expect(positionId?.kind).toBe('id');
    expect(positions?.idColumn).toBe('id');
    expect(model.identifyColumn('trades_paper', 'position_id')).toEqual(positionId);
    // The business key of an SCD-2 table, from its partial unique index (or the registry).
    expect(positions?.keyColumn && model.identifyColumn(positions.name, positions.keyColumn)).toEqual({ table: positions?.name, kind: 'key' });
  });

  it('brands the business key a table carries beside its reference to the keyed table', () => {
    // settlements.position_id references positions.id, and settlements.position_key is positions' key:
    // a settlement leads back to its position's history without a cast.
    const position = model.identifyColumn('settlements', 'position_id')!;
    const keyColumn = model.tables.find((table) => table.name === position.table)!.keyColumn!;
    expect(model.identifyColumn('settlements', keyColumn)).toEqual({ table: position.table, kind: 'key' });
    // Only beside a reference: trades carry no position key.
    expect(model.identifyColumn('trades', 'market_id')).toBeUndefined();
  });

  it('does not brand a column that only shares a name: trades.order_id is text, no foreign key', () => {
    expect(model.identifyColumn('trades', 'order_id')).toBeUndefined();
    expect(model.identifyColumn('trades', 'market_id')).toBeUndefined();
    // A view is not a tagged table with ids of its own, but its columns that are ids are ids.
    expect(model.tables.map((table) => table.name)).not.toContain('live_trades');
    expect(model.identifyColumn('training_data_trades', 'position_id')).toEqual(model.identifyColumn('trades', 'position_id'));
    expect(model.identifyColumn('training_data_trades', 'order_id')).toBeUndefined();
  });
});

describe('the registry precog_environment_tables, where it exists', () => {
  it('decides the business keys: one column other than execution_environment is branded', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const [positions] = model.tables.filter((table) => table.keyColumn);
      await pool.query(`UPDATE precog_environment_tables SET business_key = ARRAY[$2, 'execution_environment'] WHERE table_name = $1`, [
        positions!.name,
        positions!.keyColumn,
      ]);
      // A key that includes the environment is not one value: not branded.
      expect((await readEnvironmentModel(pool)).identifyColumn(positions!.name, positions!.keyColumn!)).toBeUndefined();
      await pool.query(`UPDATE precog_environment_tables SET business_key = ARRAY[$2] WHERE table_name = $1`, [positions!.name, positions!.keyColumn]);
      const withRegistry = await readEnvironmentModel(pool);
      expect(withRegistry.identifyColumn(positions!.name, positions!.keyColumn!)).toEqual({ table: positions!.name, kind: 'key' });
      // Ids do not depend on it: they come from primary and foreign keys.
      expect(withRegistry.identifyColumn('trades', 'position_id')).toEqual(model.identifyColumn('trades', 'position_id'));
    });
  });
});

describe('generated/ result types', () => {
  it('brand exactly the columns the model says identify a tagged table', async () => {
    let branded = 0;
    for (const query of Object.values(allQueries)) {
      const text = readFileSync(join(GENERATED_DIR, query.file.replace(/^sql\//, '').replace(/\.sql$/, '.ts')), 'utf8');
      const fields = interfaceFields(text, `${query.name[0]!.toUpperCase()}${query.name.slice(1)}Result`);
      const described = await getTypeData(processSQLQueryIR(query.ir as never).query, queue);
      if (!('fields' in described)) throw new Error(`${query.name}: ${described.message}`);
      for (const field of described.fields) {
        const name = query.renamedColumns[field.name] ?? field.name;
        const type = fields.get(name);
        const identity = field.tableOID ? model.identifyAttribute(field.tableOID, field.columnAttrNumber) : undefined;
        if (identity) {
          branded += 1;
          expect(type, `${query.name}.${name}`).toMatch(new RegExp(`^${brand(identity).replace(/[<>]/g, '\\$&')}[,>]`));
        } else {
          expect(type, `${query.name}.${name}`).not.toMatch(/\b(Id|Key)</);
        }
      }
    }
    expect(branded).toBeGreaterThan(0);
  });

  it('brand a foreign key parameter as the id of the table it references', () => {
    const positionId = model.identifyColumn('trades', 'position_id')!;
    const params = interfaceFields(readFileSync(join(GENERATED_DIR, 'trades.ts'), 'utf8'), 'RecordTradeParams');
    expect(params.get('position_id')).toBe(`${brand(positionId)}> | null`);
    expect(params.get('order_id')).toBe('string | null');
  });
});

describe('a new tagged table', () => {
  it('gets its ids branded by the next codegen, with no name written in src/', async () => {
    await withFreshDatabase(async (database, pool) => {
      // Declared as a migration would: the foreign key between them becomes a same-environment reference.
      // It names the run too: (id, execution_environment, backtest_run_id) is a tagged table's one unique key (000013).
      await pool.query(`
        CREATE TABLE test_orders (
          id integer GENERATED ALWAYS AS IDENTITY, kalshi_order_id text, execution_environment execution_environment NOT NULL,
          PRIMARY KEY (id, execution_environment));
        SELECT precog_environment_table('test_orders', kind => 'mutable', mutable_columns => ARRAY['kalshi_order_id']);
        CREATE TABLE test_fills (
          id bigint GENERATED ALWAYS AS IDENTITY, order_id integer NOT NULL, kalshi_order_id text,
          execution_environment execution_environment NOT NULL, backtest_run_id bigint, PRIMARY KEY (id, execution_environment),
          FOREIGN KEY (order_id, execution_environment, backtest_run_id) REFERENCES test_orders (id, execution_environment, backtest_run_id));
        SELECT precog_environment_table('test_fills', kind => 'append_only');`);
      const scratch = mkdtempSync(join(tmpdir(), 'precog-branded-'));
      try {
        const sqlDir = join(scratch, 'sql');
        mkdirSync(sqlDir);
        writeFileSync(
          join(sqlDir, 'fills.sql'),
          [
            '/* @name listFillsOfOrder */',
            'SELECT f.id, f.order_id, f.kalshi_order_id, f.execution_environment FROM test_fills f',
            'WHERE f.order_id = :order_id! AND f.kalshi_order_id = :kalshi_order_id AND f.execution_environment = :execution_environment!;',
            '',
          ].join('\n'),
        );
        const outDir = join(scratch, 'generated');
        await codegen(testServer(), { database, reuseDatabase: true, sqlDir, outDir, docsDir: scratch });
        const text = readFileSync(join(outDir, 'fills.ts'), 'utf8');
        const result = interfaceFields(text, 'ListFillsOfOrderResult');
        const params = interfaceFields(text, 'ListFillsOfOrderParams');
        // int8 ids keep their bigint base.
        expect(text).toContain("import type { ExecutionEnvironment } from './enums.js';");
        expect(text).toContain("import type { Id } from '../src/environment/brand.js';");
        expect(result.get('id')).toBe("Id<'test_fills', ExecutionEnvironment, bigint>");
        expect(result.get('order_id')).toBe("Id<'test_orders'>");
        expect(params.get('order_id')).toBe("Id<'test_orders'>");
        expect(result.get('kalshi_order_id')).toBe('string | null');
        expect(params.get('kalshi_order_id')).toBe('string | null');
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    });
  });
});
