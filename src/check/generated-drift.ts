/** Regenerates into a scratch folder and lists every file that differs from generated/. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codegen, GENERATED_DIR } from '../codegen/codegen.js';
import type { ServerTarget } from '../server/connection-string.js';

export async function generatedDriftProblems(server: ServerTarget, generatedDir = GENERATED_DIR): Promise<string[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'precog-check-'));
  try {
    await codegen(server, { outDir: scratch });
    const names = new Set([...listFiles(scratch), ...listFiles(generatedDir)]);
    const stale = [...names].sort().filter((name) => read(join(scratch, name)) !== read(join(generatedDir, name)));
    if (stale.length === 0) return [];
    return [
      `generated/ is out of date with sql/ and the migrations (${stale.join(', ')} differ). ` +
        'generated/ is never edited by hand: run `npm run codegen` and commit the result.',
    ];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function listFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.ts')) : [];
}

function read(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}
