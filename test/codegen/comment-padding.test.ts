/** A comment block added after a query changes nothing generated for that query (no blank padding). */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { codegen } from '../../src/codegen/codegen.js';
import { SQL_DIR } from '../../src/codegen/load-queries.js';
import { dropDatabase } from '../../src/migrations/fresh-database.js';
import { testServer } from '../support/db.js';

const scratch = mkdtempSync(join(tmpdir(), 'precog-padding-test-'));
const database = `precog_padding_${process.pid}`;
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await dropDatabase(testServer(), database);
});

/** The generated block of one query: from its Params interface to the end of its definition. */
function block(module: string, name: string): string {
  const start = module.indexOf(`/** Parameters of \`${name}\``);
  const end = module.indexOf('\n});\n', module.indexOf(`export const ${name} = `));
  expect(start).toBeGreaterThanOrEqual(0);
  return module.slice(start, end);
}

it('keeps the previous query byte for byte when a comment block is added after it', async () => {
  const sqlDir = join(scratch, 'sql');
  cpSync(SQL_DIR, sqlDir, { recursive: true });
  const out = (name: string) => ({ outDir: join(scratch, name), docsDir: join(scratch, `${name}-docs`), sqlDir });
  await codegen(testServer(), { ...out('before'), database });
  const file = join(sqlDir, 'markets.sql');
  const text = readFileSync(file, 'utf8');
  const end = text.indexOf(';', text.indexOf('/* @name createMarket */')) + 1;
  writeFileSync(
    file,
    `${text.slice(0, end)}\n\n/*\n  A comment block after createMarket, long enough to notice: prices are recorded as new\n  versions of the market row, never updated in place.\n*/${text.slice(end)}`,
  );
  await codegen(testServer(), { ...out('after'), database, reuseDatabase: true });
  const before = readFileSync(join(scratch, 'before', 'markets.ts'), 'utf8');
  const after = readFileSync(join(scratch, 'after', 'markets.ts'), 'utf8');
  expect(block(after, 'createMarket')).toBe(block(before, 'createMarket'));
  expect(after).not.toMatch(/ {2,}"\}/); // no statement ends in padding
}, 60_000);
