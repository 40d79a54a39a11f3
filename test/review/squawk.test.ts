/** squawk runs from its npm platform package with the project's .squawk.toml. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { squawk } from '../../src/review/squawk.js';

describe('squawk', () => {
  it('blocks a new required column and advises on the lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'precog-squawk-'));
    try {
      writeFileSync(join(dir, 'current.sql'), '-- a new column\nALTER TABLE trades ADD COLUMN venue text NOT NULL;\n');
      const findings = await squawk(['current.sql'], dir);
      expect(findings.map((f) => `${f.file}:${f.line} ${f.rule}${f.blocking ? ' blocking' : ''}`)).toContain('current.sql:2 squawk/adding-required-field blocking');
      expect(findings.find((f) => f.rule === 'squawk/require-lock-timeout')?.blocking).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has nothing to say about nothing', async () => {
    expect(await squawk([])).toEqual([]);
  });
});
