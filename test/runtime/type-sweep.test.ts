/**
 * Types equal run-time values, for every column type the schema uses and every array of one:
 * a query per type is generated (as `npm run codegen` would), a value round-trips through it,
 * and the value that comes back is checked against the type the generator emitted for it.
 * A new column type without a sample here fails the sweep.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decimal } from 'decimal.js';
import { afterAll, describe, expect, it } from 'vitest';
import { codegen } from '../../src/codegen/codegen.js';
import { functionName } from '../../src/codegen/load-queries.js';
import { pascalCase } from '../../src/codegen/emit.js';
import { PROJECT_ROOT } from '../../src/project.js';
import type { Query } from '../../src/runtime/query.js';
import { testServer, withRollback } from '../support/db.js';

// Beside src/, so the generated imports (../src/runtime/...) resolve as they do from generated/.
const outDir = join(PROJECT_ROOT, `.type-sweep-${process.pid}`);
const sqlDir = join(outDir, 'sql');
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** A sample value per non-enum type; enums use their first label. */
const SAMPLES: Record<string, unknown> = {
  int4: 7,
  int8: 9007199254740993n,
  numeric: new Decimal('0.1'),
  text: 'a "quoted", {braced} text',
  bool: true,
  date: '2024-02-29',
  timestamptz: new Date('2025-01-02T03:04:05.678Z'),
  jsonb: { a: [1, 'two', null], b: { c: true } },
  _text: ['a', 'b,c', null],
};

type Check = (value: unknown) => boolean;

function checkFor(type: string, enums: Map<string, string[]>): Check {
  const nullable = / \| null$/.test(type);
  if (nullable) {
    const inner = checkFor(type.replace(/ \| null$/, ''), enums);
    return (value) => value === null || inner(value);
  }
  const array = /^\((.*)\)\[\]$/.exec(type) ?? /^(.*)\[\]$/.exec(type);
  if (array) {
    const element = checkFor(array[1]!, enums);
    return (value) => Array.isArray(value) && value.every(element);
  }
  switch (type) {
    case 'Decimal': return (value) => value instanceof Decimal;
    case 'bigint': return (value) => typeof value === 'bigint';
    case 'number': return (value) => typeof value === 'number';
    case 'string': return (value) => typeof value === 'string';
    case 'boolean': return (value) => typeof value === 'boolean';
    case 'Date': return (value) => value instanceof Date && !Number.isNaN(value.getTime());
    case 'Json': return (value) => value !== undefined && typeof value !== 'function';
    default: {
      const labels = [...enums].find(([name]) => pascalCase(name) === type)?.[1];
      if (!labels) throw new Error(`no run-time check for the emitted type ${type}`);
      return (value) => typeof value === 'string' && labels.includes(value);
    }
  }
}

describe('every column type of the schema, and arrays of each', () => {
  it('comes back at run time as the type the generator emitted', async () => {
    const { types, enums } = await withRollback(async (db) => {
      const { rows } = await db.query<{ typname: string; typtype: string; labels: string[] | null }>(
        `SELECT DISTINCT t.typname, t.typtype,
                (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS labels
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY t.typname`,
      );
      return { types: rows, enums: new Map(rows.filter((row) => row.labels).map((row) => [row.typname, row.labels!])) };
    });
    expect(types.length).toBeGreaterThan(10);
    const missing = types.filter((type) => !type.labels && !(type.typname in SAMPLES)).map((type) => type.typname);
    // Hardening II's bookkeeping columns (backtest_runs.created_by, the permits' regclass and xid8)
    // have no TypeScript mapping yet: codegen refuses a query of them, naming the type. Known, listed
    // here so that any other new type still fails this test.
    expect(missing.filter((t) => !['name', 'regclass', 'xid8'].includes(t)), 'column types without a sample in the sweep').toEqual([]);

    mkdirSync(sqlDir, { recursive: true });
    const swept = types.filter((type) => type.labels || type.typname in SAMPLES);
    const queries = swept.map(({ typname }) => {
      const array = typname.startsWith('_');
      const cast = array ? `${typname.slice(1)}[]` : typname;
      return [
        `/* @name roundTrip_${typname.replace(/^_/, 'array_')} */`,
        array
          ? `SELECT CAST(:value! AS ${cast}) AS "value!";`
          : `SELECT CAST(:value! AS ${cast}) AS "value!", CAST(:values! AS ${cast}[]) AS "values!", ARRAY[CAST(:value! AS ${cast})] AS "built!";`,
        '',
      ].join('\n');
    });
    writeFileSync(join(sqlDir, 'sweep.sql'), queries.join('\n'));
    await codegen(testServer(), { sqlDir, outDir, docsDir: join(outDir, 'docs') });
    const source = readFileSync(join(outDir, 'sweep.ts'), 'utf8');
    const module = (await import(join(outDir, 'sweep.ts'))) as Record<string, Query<Record<string, unknown>, Record<string, unknown>, never, 'shared', 'one'>>;

    await withRollback(async (db) => {
      for (const { typname, labels } of swept) {
        const name = functionName(`roundTrip_${typname.replace(/^_/, 'array_')}`);
        const sample = labels ? labels[0] : SAMPLES[typname];
        const result = new RegExp(`export interface ${pascalCase(name)}Result \\{\\n([\\s\\S]*?)\\n\\}`).exec(source)?.[1];
        expect(result, `${name}: result type`).toBeDefined();
        const emitted = Object.fromEntries([...result!.matchAll(/^ {2}(\w+): (.*);$/gm)].map((m) => [m[1]!, m[2]!]));
        const row = await module[name]!.run({ value: sample, values: [sample, null] }, db);
        for (const [column, type] of Object.entries(emitted)) {
          expect(checkFor(type, enums)(row[column]), `${name}: ${column} is ${type}, got ${String(row[column])}`).toBe(true);
        }
        // The value itself survives the round trip.
        expect(row.value, `${name}: value`).toEqual(sample);
        if ('values' in row) expect(row.values, `${name}: values`).toEqual([sample, null]);
      }
    });
  });
});
