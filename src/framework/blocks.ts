/**
 * Framework files carried by a migration. graphile-migrate 1.4.1 has no include, so a migration
 * carries each file it ships as a block, the file's text between two marker comments:
 *
 *   -- framework:begin db/framework/guards/precog_environment_update_guard.sql
 *   CREATE OR REPLACE FUNCTION precog_environment_update_guard() ...
 *   -- framework:end db/framework/guards/precog_environment_update_guard.sql
 *
 * current.sql is therefore always plain SQL that every runner (npm run dev, graphile-migrate
 * watch, the test template, the review) applies as it is; `npm run framework` and the commit
 * command (npm run gm -- commit) write the blocks from the files, and npm run check refuses a
 * block of current.sql that differs from its file.
 */
import type { FrameworkFile } from './files.js';

/** The call that regenerates every declared table's objects from the current definitions. */
export const REDECLARE_CALL = 'SELECT precog_environment_redeclare();';

const BLOCK = /^-- framework:begin (\S+)\n([\s\S]*?)^-- framework:end \1$/gm;

export interface Block {
  path: string;
  text: string;
}

export function blocksOf(migration: string): Block[] {
  return [...migration.matchAll(BLOCK)].map((m) => ({ path: m[1]!, text: m[2]! }));
}

export function block(file: FrameworkFile): string {
  const text = file.text.endsWith('\n') ? file.text : `${file.text}\n`;
  return `-- framework:begin ${file.path}\n${text}-- framework:end ${file.path}`;
}

/** The migration with every block's text replaced by its file's current text. */
export function refreshBlocks(migration: string, files: FrameworkFile[]): { text: string; refreshed: string[]; unknown: string[] } {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const refreshed: string[] = [];
  const unknown: string[] = [];
  const text = migration.replace(BLOCK, (whole, path: string, body: string) => {
    const file = byPath.get(path);
    if (!file) {
      unknown.push(path);
      return whole;
    }
    const fresh = block(file);
    if (fresh !== whole) refreshed.push(path);
    return fresh;
  });
  return { text, refreshed, unknown };
}

/**
 * Adds a block for each of `files` not carried yet, after the blocks already there (or at the
 * end), and the call that regenerates every declared table at the very end, once.
 */
export function includeFiles(migration: string, files: FrameworkFile[]): { text: string; added: string[] } {
  const carried = new Set(blocksOf(migration).map((b) => b.path));
  const adding = files.filter((f) => !carried.has(f.path));
  let text = migration.replace(/\s*$/, '');
  const callAt = text.lastIndexOf(REDECLARE_CALL);
  let tail = '';
  if (callAt >= 0 && text.slice(callAt + REDECLARE_CALL.length).trim() === '') {
    tail = text.slice(callAt);
    text = text.slice(0, callAt).replace(/\s*$/, '');
  }
  const parts = [text, ...adding.map(block)].filter((p) => p !== '');
  const needsCall = blocksOf(text).length + adding.length > 0 && !text.includes(REDECLARE_CALL);
  const ending = tail || (needsCall ? REDECLARE_CALL : '');
  return { text: `${[...parts, ending].filter((p) => p !== '').join('\n\n')}\n`, added: adding.map((f) => f.path) };
}

/** Blocks of `migration` whose text is not their file's (or whose file is gone). */
export function staleBlocks(migration: string, files: FrameworkFile[]): string[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  return blocksOf(migration)
    .filter((b) => {
      const file = byPath.get(b.path);
      return !file || (file.text.endsWith('\n') ? file.text : `${file.text}\n`) !== b.text;
    })
    .map((b) => b.path);
}
