/** The code generator fails loudly on invalid SQL, is deterministic, and `check` catches hand edits. */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codegen, GENERATED_DIR } from '../../src/codegen/codegen.js';
import { CodegenError } from '../../src/codegen/problems.js';
import { generatedDriftProblems } from '../../src/check/generated-drift.js';
import { testServer } from '../support/db.js';

const scratch = mkdtempSync(join(tmpdir(), 'precog-codegen-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function fixture(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

describe('codegen', () => {
  it('refuses an invalid query, naming file, line, column, query and the PostgreSQL error', async () => {
    const sqlDir = fixture('invalid', {
      'broken.sql': [
        '/* @name getFine */',
        'SELECT id FROM trades WHERE id = :id! AND execution_environment = :execution_environment!;',
        '',
        '/* @name getBroken */',
        'SELECT id, pricee',
        '  FROM trades WHERE id = :id!;',
        '',
      ].join('\n'),
    });
    const outDir = join(scratch, 'invalid-out');
    const error = await codegen(testServer(), { sqlDir, outDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodegenError);
    const message = (error as CodegenError).message;
    expect(message).toContain('broken.sql:5:12 query getBroken: column "pricee" does not exist');
    expect(message).toContain('5 | SELECT id, pricee');
    // All or nothing: not even the valid query's module was written.
    expect(() => readdirSync(outDir)).toThrow();
  });

  it('refuses a result column without a name', async () => {
    const sqlDir = fixture('anonymous', { 'anonymous.sql': '/* @name countTrades */\nSELECT 1 + 1 FROM trades;\n' });
    await expect(codegen(testServer(), { sqlDir, outDir: join(scratch, 'anonymous-out') })).rejects.toThrow(
      /query countTrades: a result column has no name/,
    );
  });

  it('writes byte-identical output on every run', async () => {
    const first = join(scratch, 'first');
    const second = join(scratch, 'second');
    await codegen(testServer(), { outDir: first });
    await codegen(testServer(), { outDir: second });
    for (const file of readdirSync(first)) {
      expect(readFileSync(join(second, file), 'utf8')).toBe(readFileSync(join(first, file), 'utf8'));
    }
  });
});

describe('check: generated drift', () => {
  it('passes on the committed generated/ and fails on a hand edit, with the command to run', async () => {
    const copy = join(scratch, 'generated-copy');
    cpSync(GENERATED_DIR, copy, { recursive: true });
    expect(await generatedDriftProblems(testServer(), copy)).toEqual([]);
    appendFileSync(join(copy, 'enums.ts'), '\nexport type HandEdit = 1;\n');
    const problems = await generatedDriftProblems(testServer(), copy);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('enums.ts');
    expect(problems[0]).toContain('npm run codegen');
  });
});
