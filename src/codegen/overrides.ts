/**
 * Type overrides, from `precog.config.json` at the project root:
 *
 *   { "typeOverrides": {
 *       "interval":       { "codec": "src/codecs/interval.ts#intervalSeconds", "type": "number" },
 *       "markets.ticker": { "codec": "src/codecs/ticker.ts#ticker", "type": "Ticker" } } }
 *
 * A key is a PostgreSQL type name or a `table.column`; `codec` names a module (relative to the
 * project) and the export in it, made with `defineCodec<T>(...)` (src/runtime/codecs.ts); `type`
 * is the TypeScript type to emit (an identifier is imported from the codec's module; absent, the
 * codec's own type is emitted). Generated code checks `defineCodec`'s type against `type`, so
 * `npm run check` fails when the emitted type and the run-time value could differ. Every
 * problem of the file is reported at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type pg from 'pg';
import type { CodegenProblem } from './problems.js';

export const CONFIG_FILE = 'precog.config.json';

export interface Override {
  /** The config key: a PostgreSQL type or `table.column`. */
  key: string;
  /** Module path relative to the project root, and the export. */
  module: string;
  exportName: string;
  /** The TypeScript type to emit; undefined: the codec's own (`CodecType<typeof codec>`). */
  type?: string;
}

export interface Overrides {
  byType: Map<string, Override>;
  byColumn: Map<string, Override>;
  /** `table.column`s of array type whose elements are declared never null (`"nonNullElements"`). */
  nonNullElements: Set<string>;
  /** OIDs of built-in types (pg would parse them before an override's codec sees the text). */
  oids: Map<string, number>;
}

export const NO_OVERRIDES: Overrides = { byType: new Map(), byColumn: new Map(), nonNullElements: new Set(), oids: new Map() };

const IDENTIFIER = /^[a-z_][a-z0-9_$]*$/;
const TS_TYPE = /^[A-Za-z_$][\w$<>,[\]|&' .]*$/;

/** Reads and validates the configuration; problems lists every mistake in it. */
export async function readOverrides(root: string, client: pg.Client, configPath = join(root, CONFIG_FILE)): Promise<{ overrides: Overrides; problems: CodegenProblem[] }> {
  if (!existsSync(configPath)) return { overrides: NO_OVERRIDES, problems: [] };
  const path = relative(root, configPath) || CONFIG_FILE;
  const problems: CodegenProblem[] = [];
  const report = (message: string) => problems.push({ path, query: undefined, message, line: 1, column: 1, source: '' });
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (error) {
    report(`is not JSON: ${(error as Error).message}`);
    return { overrides: NO_OVERRIDES, problems };
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    report('must be a JSON object with "typeOverrides"');
    return { overrides: NO_OVERRIDES, problems };
  }
  for (const key of Object.keys(config)) {
    if (key !== 'typeOverrides' && key !== 'nonNullElements' && key !== '$schema') report(`unknown setting "${key}" (known: typeOverrides, nonNullElements)`);
  }
  const entries = (config as { typeOverrides?: unknown }).typeOverrides ?? {};
  if (!entries || typeof entries !== 'object' || Array.isArray(entries)) {
    report('"typeOverrides" must be an object: { "<type or table.column>": { "codec": "path#export", "type": "TsType" } }');
    return { overrides: NO_OVERRIDES, problems };
  }
  const types = new Map((await client.query<{ typname: string; oid: number }>(
    `SELECT typname, oid::int8 AS oid FROM pg_type WHERE typnamespace IN ('pg_catalog'::regnamespace, 'public'::regnamespace)`,
  )).rows.map((row) => [row.typname, Number(row.oid)]));
  // Built-in types have fixed OIDs and pg parsers; custom ones reach us as text anyway.
  const builtIn = new Map([...types].filter(([, oid]) => oid < 16384));
  const overrides: Overrides = { byType: new Map(), byColumn: new Map(), nonNullElements: new Set(), oids: builtIn };
  const columnRows = (await client.query<{ name: string; array: boolean }>(
    `SELECT c.relname || '.' || a.attname AS name, a.attndims > 0 OR t.typcategory = 'A' AS array
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped`,
  )).rows;
  const columns = new Set(columnRows.map((row) => row.name));
  const arrays = new Set(columnRows.filter((row) => row.array).map((row) => row.name));
  // "nonNullElements": ["table.column", ...]: array columns whose elements are never null (not provable from the schema).
  const declared = (config as { nonNullElements?: unknown }).nonNullElements ?? [];
  if (!Array.isArray(declared) || !declared.every((item) => typeof item === 'string')) {
    report('"nonNullElements" must be a list of "table.column" names of array columns');
  } else {
    for (const column of declared as string[]) {
      if (!columns.has(column)) report(`"nonNullElements": there is no column ${column} in the schema`);
      else if (!arrays.has(column)) report(`"nonNullElements": ${column} is not an array column`);
      else overrides.nonNullElements.add(column);
    }
  }
  for (const [key, value] of Object.entries(entries)) {
    const at = `"typeOverrides"."${key}"`;
    const parts = key.split('.');
    if (parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
      report(`${at}: a key is a PostgreSQL type (e.g. "interval") or "table.column" in lower case`);
      continue;
    }
    if (parts.length === 1 && !types.has(key)) report(`${at}: there is no PostgreSQL type ${key}`);
    if (parts.length === 2 && !columns.has(key)) report(`${at}: there is no column ${key} in the schema`);
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      report(`${at}: must be an object { "codec": "path#export", "type": "TsType" }`);
      continue;
    }
    const { codec, type, ...rest } = value as Record<string, unknown>;
    for (const unknown of Object.keys(rest)) report(`${at}: unknown field "${unknown}" (known: codec, type)`);
    const match = typeof codec === 'string' ? /^([^#]+\.ts)#([A-Za-z_$][\w$]*)$/.exec(codec) : null;
    if (!match) {
      report(`${at}: "codec" must be "path/to/module.ts#exportName", got ${JSON.stringify(codec)}`);
    } else if (!existsSync(join(root, match[1]!))) {
      report(`${at}: the codec module ${match[1]} does not exist`);
    } else if (!new RegExp(`export\\s+const\\s+${match[2]!.replace(/\$/g, '\\$')}\\b`).test(readFileSync(join(root, match[1]!), 'utf8'))) {
      report(`${at}: ${match[1]} has no \`export const ${match[2]}\``);
    }
    if (type !== undefined && (typeof type !== 'string' || !TS_TYPE.test(type))) report(`${at}: "type" must be a TypeScript type, got ${JSON.stringify(type)}`);
    if (!match) continue;
    const override: Override = { key, module: match[1]!, exportName: match[2]!, ...(typeof type === 'string' && { type }) };
    if (parts.length === 1) {
      overrides.byType.set(key, override);
    } else {
      overrides.byColumn.set(key, override);
    }
  }
  return { overrides, problems };
}
