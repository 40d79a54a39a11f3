import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { brandCastProblems } from '../../src/check/brand-casts.js';

it('reports a cast to a branded type outside src/, with file, line and column', () => {
  const root = mkdtempSync(join(tmpdir(), 'precog-brand-'));
  try {
    mkdirSync(join(root, 'app'));
    writeFileSync(
      join(root, 'app', 'forge.ts'),
      "import type { Live } from 'precog-db';\nconst row = { id: 1 };\nexport const forged = row as unknown as Live<typeof row>;\n",
    );
    writeFileSync(join(root, 'app', 'fine.ts'), 'export const n = 1 as number;\n');
    const problems = brandCastProblems(root);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^app\/forge\.ts:3:41 casts to Live<typeof row>/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
