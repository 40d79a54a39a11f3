/** Regenerates into a scratch folder and lists every file that differs from generated/ and docs/schema.md. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codegen, DOCS_DIR, GENERATED_DIR, isGeneratedFile } from '../codegen/codegen.js';
import type { ServerTarget } from '../server/connection-string.js';

export async function generatedDriftProblems(server: ServerTarget, generatedDir = GENERATED_DIR, docsDir = DOCS_DIR): Promise<string[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'precog-check-'));
  try {
    await codegen(server, { outDir: join(scratch, 'generated'), docsDir: join(scratch, 'docs') });
    const stale = [
      ...differing(join(scratch, 'generated'), generatedDir, isGeneratedFile).map((name) => `generated/${name}`),
      ...differing(join(scratch, 'docs'), docsDir, (name) => name === 'schema.md').map((name) => `docs/${name}`),
    ];
    if (stale.length === 0) return [];
    return [
      `generated code is out of date with sql/ and the migrations (${stale.join(', ')} differ). ` +
        'It is never edited by hand: run `npm run codegen` and commit the result.',
    ];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function differing(expectedDir: string, actualDir: string, owned: (name: string) => boolean): string[] {
  const names = new Set([...listFiles(expectedDir, owned), ...listFiles(actualDir, owned)]);
  return [...names].sort().filter((name) => read(join(expectedDir, name)) !== read(join(actualDir, name)));
}

function listFiles(dir: string, owned: (name: string) => boolean): string[] {
  return existsSync(dir) ? readdirSync(dir).filter(owned) : [];
}

function read(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}
