/**
 * `npm run backtests -- <command>`: the backtest runs of the database precog-db uses
 * (DATABASE_URL, or the embedded server; `--database <name>` for another database on it).
 *
 *   npm run backtests -- list              every run: id, strategy and version, period, status,
 *                                          label, rows per tagged table
 *   npm run backtests -- delete <id>       shows what will be deleted, asks y/N on a terminal;
 *   npm run backtests -- delete <id> --yes without a terminal (scripts, CI), --yes is required
 *
 * Deleting a run drops its partition of every tagged table (constant time): every other run,
 * and live and paper rows, are untouched. Bad input and unknown runs exit 1, naming the input.
 */
import { createInterface } from 'node:readline/promises';
import pg from 'pg';
import { type BacktestRun, runId } from '../backtest/runs.js';
import { describeCounts, runRowCounts } from '../backtest/row-counts.js';
import { precogDb } from '../scope/precog-db.js';
import { describeDatabase } from '../server/connection-string.js';
import { resolveTarget, unreachable } from '../server/resolve.js';
import { runCommand } from './run-command.js';

const USAGE = 'usage: npm run backtests -- list | delete <id> [--yes]   (options: --database <name>)';

interface Arguments {
  command: 'list' | 'delete';
  id?: string;
  yes: boolean;
  database?: string;
}

function parseArguments(argv: string[]): Arguments {
  const positional: string[] = [];
  let yes = false;
  let database: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--yes' || arg === '-y') yes = true;
    else if (arg === '--database') {
      database = argv[++i];
      if (!database || database.startsWith('-')) throw new Error(`--database needs a value.\n${USAGE}`);
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${JSON.stringify(arg)}.\n${USAGE}`);
    else positional.push(arg);
  }
  const [command, ...rest] = positional;
  if (command === 'list') {
    if (rest.length) throw new Error(`list takes no arguments; got ${rest.map((x) => JSON.stringify(x)).join(' ')}.\n${USAGE}`);
    if (yes) throw new Error(`--yes is for delete.\n${USAGE}`);
    return { command, yes, ...(database && { database }) };
  }
  if (command === 'delete') {
    if (rest.length !== 1) throw new Error(`delete takes one run id; got ${rest.length ? rest.map((x) => JSON.stringify(x)).join(' ') : 'none'}.\n${USAGE}`);
    const id = runId(rest[0]);
    if (id === undefined) throw new Error(`delete: ${JSON.stringify(rest[0])} is not a backtest run id (a positive integer; npm run backtests -- list shows them).`);
    return { command, id, yes, ...(database && { database }) };
  }
  throw new Error(command === undefined ? USAGE : `unknown command ${JSON.stringify(command)}.\n${USAGE}`);
}

function describeRun(run: BacktestRun): string {
  const strategy = run.strategy_id === null ? 'no strategy' : `strategy ${run.strategy_id}${run.strategy_version ? ` v${run.strategy_version}` : ''}`;
  const period = `${isoOrInfinity(run.period_start)} → ${isoOrInfinity(run.period_end)}`;
  return `run ${run.id}  ${strategy}  ${period}  ${run.status}${run.label ? `  "${run.label}"` : ''}`;
}

/** A timestamptz of ±infinity comes back as ±Infinity, not a Date (the run made for pre-run rows has them). */
function isoOrInfinity(date: Date | number): string {
  return date instanceof Date && !Number.isNaN(date.getTime()) ? date.toISOString() : String(date).toLowerCase();
}

async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

runCommand(async () => {
  const args = parseArguments(process.argv.slice(2));
  const target = await resolveTarget();
  const database = args.database ?? target.database;
  const { server } = target;
  const pool = new pg.Pool({ host: server.host, port: server.port, user: server.user, password: server.password, database, max: 1, connectionTimeoutMillis: 10_000 });
  try {
    const client = await pool.connect().catch((error: unknown) => {
      throw unreachable(server, database, error);
    });
    client.release();
    const { rows: [schema] } = await pool.query<{ ready: boolean }>("SELECT to_regclass('public.backtest_runs') IS NOT NULL AS ready");
    if (!schema!.ready) throw new Error(`${describeDatabase(server, database)} has no backtest_runs table: migrate it first (npm start).`);
    const db = precogDb(pool);
    if (args.command === 'list') {
      const runs = await db.backtests.list();
      if (!runs.length) {
        console.log(`No backtest runs in ${describeDatabase(server, database)}.`);
        return;
      }
      for (const run of runs) console.log(`${describeRun(run)}  rows: ${describeCounts(await runRowCounts(pool, run.id))}`);
      return;
    }
    const run = await db.backtests.get(args.id!);
    if (!run) throw new Error(`There is no backtest run ${args.id} in ${describeDatabase(server, database)}: npm run backtests -- list shows the runs.`);
    console.log(`Deleting ${describeRun(run)}`);
    console.log(`  and its rows: ${describeCounts(await runRowCounts(pool, run.id))} (every other run, and live and paper rows, are untouched).`);
    if (!args.yes) {
      if (!process.stdin.isTTY) throw new Error(`Nothing deleted: delete ${args.id} asks for confirmation, and there is no terminal to ask; pass --yes to delete without asking.`);
      if (!(await confirm(`Delete backtest run ${run.id}? [y/N] `))) throw new Error('Nothing deleted.');
    }
    await db.backtests.delete(run.id);
    await db.backtests.sweep(); // its rows too, before the pool ends
    console.log(`Deleted backtest run ${run.id}.`);
  } finally {
    await pool.end();
  }
});
