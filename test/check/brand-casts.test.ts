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
    writeFileSync(
      join(root, 'app', 'forge-id.ts'),
      "import type { Id } from 'precog-db';\nexport const id = 42 as Id<'positions', 'live'>;\n",
    );
    writeFileSync(join(root, 'app', 'fine.ts'), 'type Key = string;\nexport const n = 1 as number;\nexport const k = "a" as Key;\n');
    const problems = brandCastProblems(root);
    expect(problems).toHaveLength(2);
    expect(problems).toContainEqual(expect.stringMatching(/^app\/forge\.ts:3:41 casts to Live<typeof row>/));
    expect(problems).toContainEqual(expect.stringMatching(/^app\/forge-id\.ts:2:25 casts to Id<'positions', 'live'>/));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
