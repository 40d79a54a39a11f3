/**
 * Regenerates into a scratch folder and lists every file that differs from generated/ and
 * docs/schema.md. generated/schema.sql is the schema as the embedded PostgreSQL major deparses it
 * (views, partitions' identity columns read differently on 15 and 16): it is compared on the
 * majors that deparse alike (src/server/majors.ts), and on the others the check says it was not.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codegen, DOCS_DIR, GENERATED_DIR, isGeneratedFile } from '../codegen/codegen.js';
import type { ServerTarget } from '../server/connection-string.js';
import { deparsesLikeSnapshot, snapshotMajor } from '../server/majors.js';
import { connect } from '../server/resolve.js';

/** The major whose deparsing generated/schema.sql records (src/server/majors.ts). */
export const SNAPSHOT_MAJOR = snapshotMajor();

export async function serverMajor(server: ServerTarget): Promise<number> {
  const client = await connect(server, 'postgres');
  try {
    const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    return Math.floor(Number(rows[0]!.server_version_num) / 10000);
  } finally {
    await client.end();
  }
}

export async function generatedDriftProblems(
  server: ServerTarget,
  generatedDir = GENERATED_DIR,
  docsDir = DOCS_DIR,
  notes: string[] = [],
): Promise<string[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'precog-check-'));
  try {
    await codegen(server, { outDir: join(scratch, 'generated'), docsDir: join(scratch, 'docs') });
    const major = await serverMajor(server);
    const alike = deparsesLikeSnapshot(major);
    const compared = alike ? isGeneratedFile : (name: string) => isGeneratedFile(name) && name !== 'schema.sql';
    if (!alike) {
      notes.push(`generated/schema.sql records PostgreSQL ${SNAPSHOT_MAJOR}'s deparsing and was not compared on this PostgreSQL ${major} server.`);
    }
    const stale = [
      ...differing(join(scratch, 'generated'), generatedDir, compared).map((name) => `generated/${name}`),
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
