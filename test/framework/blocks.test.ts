/** How a migration carries framework files: blocks written, refreshed and found stale. */
import { describe, expect, it } from 'vitest';
import { REDECLARE_CALL, blocksOf, includeFiles, refreshBlocks, staleBlocks } from '../../src/framework/blocks.js';

const guard = { path: 'db/framework/guards/g.sql', text: 'CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n' };
const other = { path: 'db/framework/runs/r.sql', text: 'CREATE OR REPLACE FUNCTION r() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;\n' };

describe('framework blocks in a migration', () => {
  it('includes a file as a block after what the author wrote, and ends with the one regeneration call', () => {
    const { text, added } = includeFiles('ALTER TABLE precog_environment_keys ADD COLUMN note text;\n', [guard]);
    expect(added).toEqual([guard.path]);
    expect(text).toBe(
      `ALTER TABLE precog_environment_keys ADD COLUMN note text;\n\n-- framework:begin ${guard.path}\n${guard.text}-- framework:end ${guard.path}\n\n${REDECLARE_CALL}\n`,
    );
    expect(blocksOf(text)).toEqual([{ path: guard.path, text: guard.text }]);
  });

  it('a second file goes before the call, which stays the last statement, once', () => {
    const once = includeFiles('', [guard]).text;
    const twice = includeFiles(once, [guard, other]);
    expect(twice.added).toEqual([other.path]);
    expect(blocksOf(twice.text).map((b) => b.path)).toEqual([guard.path, other.path]);
    expect(twice.text.split(REDECLARE_CALL)).toHaveLength(2);
    expect(twice.text.trimEnd().endsWith(REDECLARE_CALL)).toBe(true);
  });

  it('an edited file makes its block stale, and refreshing copies the file in again', () => {
    const migration = includeFiles('', [guard, other]).text;
    const edited = { ...guard, text: guard.text.replace('SELECT 1', 'SELECT 10') };
    expect(staleBlocks(migration, [edited, other])).toEqual([guard.path]);
    const { text, refreshed, unknown } = refreshBlocks(migration, [edited, other]);
    expect(refreshed).toEqual([guard.path]);
    expect(unknown).toEqual([]);
    expect(staleBlocks(text, [edited, other])).toEqual([]);
    expect(blocksOf(text)[0]!.text).toContain('SELECT 10');
  });

  it('a block whose file is gone is stale and reported as unknown, not dropped', () => {
    const migration = includeFiles('', [guard]).text;
    expect(staleBlocks(migration, [])).toEqual([guard.path]);
    expect(refreshBlocks(migration, []).unknown).toEqual([guard.path]);
    expect(refreshBlocks(migration, []).text).toBe(migration);
  });
});
