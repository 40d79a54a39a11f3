/**
 * `npm run backtests -- list | delete <id> [--yes]` against a database of its own (DATABASE_URL),
 * run as a child process whose stdin is not a terminal.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { precogDb } from '../../src/scope/precog-db.js';
import { connectionString } from '../../src/server/connection-string.js';
import { testServer, withFreshDatabase } from '../support/db.js';
import { strategyAndModel } from '../queries/fixtures.js';
import { closedPosition, taggedTables, trade } from './support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

function backtests(database: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, ['src/cli/backtests.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: connectionString(testServer(), database) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end();
  });
}

it('lists runs with their rows, deletes one with --yes, refuses without it off a terminal, names bad input', { timeout: 120_000 }, async () => {
  await withFreshDatabase(async (database, pool) => {
    const db = precogDb(pool);
    expect(await backtests(database, 'list')).toMatchObject({ status: 0, stdout: expect.stringMatching(/^No backtest runs in /) });

    const { strategyId } = await strategyAndModel(pool);
    const period = { period_start: new Date('2025-01-01T00:00:00Z'), period_end: new Date('2025-02-01T00:00:00Z') };
    const a = await db.backtests.create({ strategy_id: strategyId, ...period, label: 'edge 0.05' });
    const b = await db.backtests.create({ strategy_id: strategyId, ...period, label: 'edge 0.10' });
    const scope = db.scope('backtest', { api: 'none', run: a });
    await closedPosition(scope, strategyId, '0.40', '0.50', new Date('2025-01-02T00:00:00Z'));
    for (let i = 0; i < 3; i++) await trade(scope, strategyId, '0.01', new Date('2025-01-02T00:00:00Z'));
    await db.backtests.setStatus(a, 'finished');

    const list = await backtests(database, 'list');
    expect(list.status).toBe(0);
    expect(list.stdout.trim().split('\n')).toEqual([
      `run ${b.id}  strategy ${strategyId} v1.0  2025-01-01T00:00:00.000Z → 2025-02-01T00:00:00.000Z  created  "edge 0.10"  rows: no rows`,
      // Two position versions (open, closed) and three trades.
      `run ${a.id}  strategy ${strategyId} v1.0  2025-01-01T00:00:00.000Z → 2025-02-01T00:00:00.000Z  finished  "edge 0.05"  rows: positions 2, trades 3`,
    ]);

    // Not a terminal and no --yes: nothing is deleted.
    const refused = await backtests(database, 'delete', String(a.id));
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain(`Deleting run ${a.id}`);
    expect(refused.stdout).toContain('and its rows: positions 2, trades 3');
    expect(refused.stderr).toMatch(/Nothing deleted: .*pass --yes/);
    expect(await db.backtests.get(a.id)).toBeDefined();

    const deleted = await backtests(database, 'delete', String(a.id), '--yes');
    expect(deleted).toMatchObject({ status: 0, stderr: '' });
    expect(deleted.stdout).toContain(`Deleted backtest run ${a.id}.`);
    expect(await db.backtests.get(a.id)).toBeUndefined();
    for (const table of await taggedTables(pool)) {
      const { rows: [row] } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM public."${table}" WHERE backtest_run_id = $1`, [a.id]);
      expect(row!.n, table).toBe('0');
    }
    expect((await db.backtests.list()).map((run) => run.id)).toEqual([b.id]);

    const unknown = await backtests(database, 'delete', String(a.id), '--yes');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain(`There is no backtest run ${a.id}`);
    const bad = await backtests(database, 'delete', 'twelve', '--yes');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('"twelve" is not a backtest run id');
    const usage = await backtests(database, 'remove', '7');
    expect(usage.status).toBe(1);
    expect(usage.stderr).toContain('unknown command "remove"');
    expect(usage.stderr).toContain('usage: npm run backtests -- list | delete <id> [--yes]');
    expect((await backtests(database, 'delete')).stderr).toContain('delete takes one run id; got none');
    expect((await backtests(database, 'list', '--force')).stderr).toContain('unknown option "--force"');
  });
});

/** `delete <id>` on a terminal (util-linux `script` gives it one), answering `answer` at the prompt. */
function onTerminal(database: string, id: bigint, answer: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', `${TSX} src/cli/backtests.ts delete ${id}`, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: connectionString(testServer(), database) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let answered = false;
    const take = (chunk: Buffer) => {
      output += chunk;
      if (!answered && output.includes('[y/N]')) {
        answered = true;
        child.stdin.write(`${answer}\n`);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

// util-linux's `script` gives the CLI a terminal. Every Linux has it (Debian: bsdutils, essential),
// so there, CI included, its absence fails the test rather than skipping it; elsewhere (macOS's
// `script` takes other flags) the test is skipped, and says so.
const hasScript = spawnSync('script', ['--version']).status === 0;
const terminalTestRuns = hasScript || process.platform === 'linux';

it.skipIf(!terminalTestRuns)('on a terminal, delete asks y/N: anything but y keeps the run', { timeout: 120_000 }, async () => {
  if (!hasScript) throw new Error("util-linux's `script` is missing: install util-linux (Debian: apt-get install bsdutils); this test needs it to give the CLI a terminal.");
  await withFreshDatabase(async (database, pool) => {
    const db = precogDb(pool);
    const period = { period_start: new Date('2025-01-01T00:00:00Z'), period_end: new Date('2025-02-01T00:00:00Z') };
    const run = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...period, label: 'asked' });
    const declined = await onTerminal(database, run.id, 'n');
    expect(declined.status).toBe(1);
    expect(declined.output).toContain(`Delete backtest run ${run.id}? [y/N]`);
    expect(declined.output).toContain('Nothing deleted.');
    expect(await db.backtests.get(run.id)).toBeDefined();
    const accepted = await onTerminal(database, run.id, 'y');
    expect(accepted.status).toBe(0);
    expect(accepted.output).toContain(`Deleted backtest run ${run.id}.`);
    expect(await db.backtests.get(run.id)).toBeUndefined();
  });
});
