/**
 * Shared pieces of the benchmark: flags, timing, medians, alternation (ABAB...), scratch
 * databases and pools.
 *
 * Every comparison is a ratio of two sides measured in the same run, alternating A and B so
 * that the noise of a shared machine (another job, a checkpoint, a CPU frequency step) hits
 * both sides alike; the reported figure is a median over the repetitions.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { cloneDatabase, dropDatabase, freshDatabase } from '../src/migrations/fresh-database.js';
import type { ServerTarget } from '../src/server/connection-string.js';

export interface Flags {
  /** Small sizes everywhere: a smoke run (seconds, not minutes). */
  quick: boolean;
  /** Also measure live latency with 5 million backtest trades (loading them takes a while). */
  with5m: boolean;
  /** Time `npm test` (on by default; --no-tests turns it off). */
  withTests: boolean;
  /** Measure the development loop and cold codegen (on by default; --no-dev turns it off). */
  withDev: boolean;
  /** Only these sections (comma-separated: overhead,bulk,runs,scale,isolation,dev,tests); all by default. */
  only: Set<string> | undefined;
  /** Where the JSON goes. */
  out: string;
}

export function parseFlags(argv: string[]): Flags {
  const has = (name: string) => argv.includes(`--${name}`);
  const value = (name: string) => {
    const found = argv.find((arg) => arg.startsWith(`--${name}=`));
    return found?.slice(name.length + 3);
  };
  const known = ['quick', 'with-5m', 'with-tests', 'no-tests', 'no-dev', 'only', 'out', 'help'];
  for (const arg of argv) {
    const name = arg.replace(/^--/, '').replace(/=.*$/, '');
    if (!arg.startsWith('--') || !known.includes(name)) {
      throw new Error(`Unknown argument ${arg}. Known: ${known.map((k) => `--${k}`).join(' ')}`);
    }
  }
  if (has('help')) {
    console.log(
      'npm run bench [-- --quick] [--with-5m] [--no-tests] [--no-dev] [--only=overhead,bulk,runs,scale,isolation,dev,tests] [--out=path.json]',
    );
    process.exit(0);
  }
  const quick = has('quick');
  const only = value('only');
  return {
    quick,
    with5m: has('with-5m'),
    // npm test takes ~1.5 min here: on by default, off in a quick run unless asked for.
    withTests: has('with-tests') || (!quick && !has('no-tests')),
    withDev: !has('no-dev'),
    only: only ? new Set(only.split(',').map((s) => s.trim())) : undefined,
    out: value('out') ?? 'bench/results/latest.json',
  };
}

export const now = () => performance.now();

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface Alternation {
  /** Milliseconds per operation, one entry per sample, side A. */
  a: number[];
  b: number[];
  medianA: number;
  medianB: number;
  /** median(A) / median(B). */
  ratio: number;
  /** Median of the per-round ratios A_i / B_i (each round's two samples are adjacent in time). */
  pairedRatio: number;
}

/**
 * Runs `rounds` rounds of A and B alternating, AB BA AB ... (after `warmup` unrecorded rounds);
 * each sample times `inner` consecutive calls and records milliseconds per call.
 */
export async function alternate(
  sideA: () => Promise<unknown>,
  sideB: () => Promise<unknown>,
  options: { rounds: number; warmup: number; inner: number },
): Promise<Alternation> {
  const [a, b] = await rotate([sideA, sideB], options);
  const medianA = median(a!);
  const medianB = median(b!);
  return { a: a!, b: b!, medianA, medianB, ratio: medianA / medianB, pairedRatio: median(a!.map((x, i) => x / b![i]!)) };
}

/** Rounds of every side in turn, the order reversed every other round; per side, milliseconds per call of each sample. */
export async function rotate(
  sides: (() => Promise<unknown>)[],
  options: { rounds: number; warmup: number; inner: number },
): Promise<number[][]> {
  const samples: number[][] = sides.map(() => []);
  const sample = async (side: () => Promise<unknown>) => {
    const started = now();
    for (let i = 0; i < options.inner; i++) await side();
    return (now() - started) / options.inner;
  };
  const order = sides.map((_, index) => index);
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    // ABC CBA ABC ...: no side always runs first (or right after another), so drift and
    // position effects fall on every side alike.
    for (const index of round % 2 ? [...order].reverse() : order) {
      const time = await sample(sides[index]!);
      if (round >= options.warmup) samples[index]!.push(time);
    }
  }
  return samples;
}

/** Summary of an alternation for the JSON (the raw samples too, rounded). */
export function summarise(result: Alternation) {
  const round = (x: number) => Math.round(x * 10_000) / 10_000;
  return {
    medianA_ms: round(result.medianA),
    medianB_ms: round(result.medianB),
    ratio: round(result.ratio),
    pairedRatio: round(result.pairedRatio),
    samples: result.a.length,
    samplesA_ms: result.a.map(round),
    samplesB_ms: result.b.map(round),
  };
}

export function pool(server: ServerTarget, database: string, max = 1): pg.Pool {
  return new pg.Pool({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database,
    max,
    idleTimeoutMillis: 0,
  });
}

/** Scratch database names of this run: `bench_<pid>_<what>`, dropped at the end. */
export const scratchName = (what: string) => `bench_${process.pid}_${what}`;

export function log(message: string): void {
  console.log(`[bench ${new Date().toTimeString().slice(0, 8)}] ${message}`);
}

export const fmt = (x: number | undefined, digits = 2) =>
  x === undefined || Number.isNaN(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The scratch databases of this run: created from the migrations alone (or cloned), all dropped at the end. */
export class ScratchDatabases {
  readonly created: string[] = [];
  constructor(private readonly server: ServerTarget) {}

  /** A database migrated from nothing (freshDatabase: a copy of the migrated template). */
  async fresh(what: string): Promise<string> {
    const name = this.register(what);
    await freshDatabase(this.server, name);
    return name;
  }

  /** A file copy of `template` (which must have no open connection). */
  async clone(what: string, template: string): Promise<string> {
    const name = this.register(what);
    await cloneDatabase(this.server, template, name);
    return name;
  }

  async drop(name: string): Promise<void> {
    await dropDatabase(this.server, name);
    const index = this.created.indexOf(name);
    if (index >= 0) this.created.splice(index, 1);
  }

  async dropAll(): Promise<void> {
    for (const name of [...this.created]) await this.drop(name).catch(() => undefined);
  }

  private register(what: string): string {
    const name = scratchName(what);
    if (!this.created.includes(name)) this.created.push(name);
    return name;
  }
}
