/**
 * The errors a developer reads: compiled with the TypeScript compiler, as an editor would show
 * them. The first line names the rows as written (the row type and its environment, `Live<...>`)
 * or says what to do (a union environment, a missing connection), not the query's plumbing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
let dir: string;
let messages: string[][];

const SNIPPET = `
import { precogDb, type Live, type Pool, type Scope } from 'precog-db';
import type { ListOpenPositionsResult } from 'precog-db/queries';
declare const pool: Pool;
declare const paper: Scope<'paper'>;
declare const config: { environment: 'live' | 'paper'; kalshiMode: 'live' | 'demo' };
declare function sellLive(position: Live<ListOpenPositionsResult>): void;
export async function f() {
  const [row] = await paper.listOpenPositions();
  sellLive(row!);
  precogDb(pool).scope(config.environment, { api: config.kalshiMode });
  precogDb({ paper: pool }).scope('live', { api: 'live' });
}
`;

beforeAll(() => {
  dir = mkdtempSync(join(ROOT, 'test', 'typings', '.errors-'));
  const file = join(dir, 'snippet.ts');
  writeFileSync(file, SNIPPET);
  const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const program = ts.createProgram([file], { ...config.options, noEmit: true });
  messages = ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file?.fileName === file)
    .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n').split('\n'));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a paper row where a live one is required: the rows and environments on the first line, "paper" versus "live" by the fourth', () => {
  const [first, ...rest] = messages[0]!;
  expect(first).toBe(
    `Argument of type 'EnvironmentScoped<ListOpenPositionsResult, "paper">' is not assignable to parameter of type 'Live<ListOpenPositionsResult>'.`,
  );
  expect(rest.slice(0, 3).join('\n')).toMatch(/Type '"paper"' is not assignable to type '"live"'/);
});

it('a union environment: what to do, on the environment argument', () => {
  expect(messages[1]![0]).toMatch(/^Argument of type '"live" \| "paper"' is not assignable to parameter of type '"precog-db: a scope has exactly one execution environment; narrow the environment/);
});

it('a scope without its connection: which connection to give', () => {
  expect(messages[2]![0]).toMatch(/^Argument of type '"live"' is not assignable to parameter of type '"precog-db: no live connection was given to precogDb\(\); pass precogDb\(\{ live: pool, \.\.\. \}\)/);
  expect(messages).toHaveLength(3);
});
