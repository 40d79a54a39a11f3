/**
 * Type overrides from a configuration file: by PostgreSQL type and by table.column, each naming
 * the TypeScript type and the codec, so the emitted type and the run-time value agree; every
 * problem of the file is reported at once.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codegen } from '../../src/codegen/codegen.js';
import { CodegenError } from '../../src/codegen/problems.js';
import { PROJECT_ROOT } from '../../src/project.js';
import type { Query } from '../../src/runtime/query.js';
import { testServer, withRollback } from '../support/db.js';
import { unique } from '../queries/fixtures.js';
import { StrategyConfig } from './fixtures/override-codecs.js';

// Beside src/, so the generated imports (../src/runtime/...) resolve as they do from generated/.
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function setup(name: string, config: unknown, sql: string) {
  const dir = join(PROJECT_ROOT, `.overrides-${process.pid}-${name}`);
  dirs.push(dir);
  mkdirSync(join(dir, 'sql'), { recursive: true });
  writeFileSync(join(dir, 'sql', `${name}.sql`), sql);
  const configPath = join(dir, 'precog.config.json');
  writeFileSync(configPath, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return { sqlDir: join(dir, 'sql'), outDir: dir, docsDir: join(dir, 'docs'), configPath };
}

const CODECS = 'test/codegen/fixtures/override-codecs.ts';

describe('type overrides', () => {
  it('by type and by column: emitted types name the codec\'s type, values come back decoded by it', async () => {
    const options = setup('good', {
      typeOverrides: {
        numeric: { codec: `${CODECS}#numericText`, type: 'string' },
        'strategies.config': { codec: `${CODECS}#strategyConfig`, type: 'StrategyConfig' },
      },
    }, [
      '/* @name CreateStrategy */',
      "INSERT INTO strategies (strategy_name, strategy_version, config) VALUES (:name!, '1', '{\"edge\": 0.1}')",
      'RETURNING strategy_id, config, \'{"plain": true}\'::jsonb AS plain, :amount!::numeric AS amount, 0.10::numeric AS fee;',
      '/* @name FindStrategyByConfig */',
      'SELECT strategy_id FROM strategies WHERE config = :config!;',
      '',
    ].join('\n'));
    await codegen(testServer(), options);
    const generated = readFileSync(join(options.outDir, 'good.ts'), 'utf8');
    expect(generated).toContain('  config: StrategyConfig;');
    expect(generated).toContain('  plain: Json;');
    expect(generated).toContain('  amount: string;');
    expect(generated).toContain('  fee: string;');
    // A parameter compared with the overridden column takes the column's type and codec.
    expect(generated).toContain('export interface FindStrategyByConfigParams {\n  config: StrategyConfig;\n}');
    expect(generated).toContain("import { numericText as codec_numeric, strategyConfig as codec_strategies_config, type StrategyConfig } from '../test/codegen/fixtures/override-codecs.js';");
    expect(generated).toContain('codecs: { results: { "config": overrideCodec<StrategyConfig>(codec_strategies_config), "amount": overrideCodec<string>(codec_numeric), "fee": overrideCodec<string>(codec_numeric) }, params: { "amount": overrideCodec<string>(codec_numeric) } },');

    const module = (await import(join(options.outDir, 'good.ts'))) as Record<string, Query<any, any, any, any, any>>;
    await withRollback(async (db) => {
      const row = await module.createStrategy!.run({ name: unique('STRAT'), amount: '12.3400' }, db);
      expect(row.config).toBeInstanceOf(StrategyConfig);
      expect(row.config.settings).toEqual({ edge: 0.1 });
      // A jsonb column the column override does not claim is parsed as usual.
      expect(row.plain).toEqual({ plain: true });
      // numeric as exact text, trailing zeros kept: the codec saw PostgreSQL's text.
      expect(row.amount).toBe('12.3400');
      expect(row.fee).toBe('0.10');
      const found = await module.findStrategyByConfig!.run({ config: new StrategyConfig({ edge: 0.1 }) }, db);
      expect(found.map((match: { strategy_id: number }) => match.strategy_id)).toContain(row.strategy_id);
    });
  });

  it('reports every problem of the file at once', async () => {
    const options = setup('bad', {
      typeOverride: {},
      typeOverrides: {
        'Not A Key': { codec: `${CODECS}#numericText` },
        no_such_type: { codec: `${CODECS}#numericText` },
        'strategies.no_such_column': { codec: `${CODECS}#numericText` },
        numeric: { codec: 'override-codecs#numericText', type: 'string' },
        int4: { codec: 'test/codegen/fixtures/missing.ts#x' },
        int8: { codec: `${CODECS}#noSuchExport`, type: 42, extra: true },
      },
    }, '/* @name listStrategies */\nSELECT strategy_id FROM strategies;\n');
    const error = await codegen(testServer(), options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodegenError);
    const message = (error as CodegenError).message;
    for (const expected of [
      'unknown setting "typeOverride" (known: typeOverrides, nonNullElements)',
      '"typeOverrides"."Not A Key": a key is a PostgreSQL type (e.g. "interval") or "table.column" in lower case',
      '"typeOverrides"."no_such_type": there is no PostgreSQL type no_such_type',
      '"typeOverrides"."strategies.no_such_column": there is no column strategies.no_such_column in the schema',
      '"typeOverrides"."numeric": "codec" must be "path/to/module.ts#exportName", got "override-codecs#numericText"',
      '"typeOverrides"."int4": the codec module test/codegen/fixtures/missing.ts does not exist',
      `"typeOverrides"."int8": ${CODECS} has no \`export const noSuchExport\``,
      '"typeOverrides"."int8": unknown field "extra" (known: codec, type)',
      '"typeOverrides"."int8": "type" must be a TypeScript type, got 42',
    ]) expect(message).toContain(expected);
  });

  it('refuses a file that is not JSON', async () => {
    const options = setup('notjson', '{ "typeOverrides": ', '/* @name listStrategies */\nSELECT strategy_id FROM strategies;\n');
    await expect(codegen(testServer(), options)).rejects.toThrow(/precog\.config\.json:1:1 is not JSON/);
  });
});
