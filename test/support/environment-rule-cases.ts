/**
 * Every environment rule of migration 000010, generated for every table of the registry
 * (precog_environment_tables) and every reference (precog_environment_references): each
 * attempted in raw SQL as the owner and as each role, inside a savepoint of one rolled-back
 * transaction over a database of its own. A table declared with precog_environment_table() gets
 * these cases with no change here.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloneDatabase, dropDatabase } from '../../src/migrations/fresh-database.js';
import { inject } from 'vitest';
import { poolFor, testServer } from './db.js';
import { ACTORS, attempt, ENVIRONMENTS, type Actor, type Attempt, type Environment } from './environment-fixtures.js';
import {
  changeableColumn,
  copyOf,
  ident,
  insertableColumns,
  insertRow,
  keyOf,
  loadFixtures,
  loadRegistry,
  rowsWhere,
  type Fixtures,
  fresh,
  RUN_COLUMN,
  type Registry,
  type Row,
  type TaggedTable,
} from './environment-registry.js';

export type Outcome =
  | { rule: string } // "[rule] ..." from a guard: P0001, with a HINT, naming the table
  | { role: Environment } // 42501 from the RESTRICTIVE policy "[environment-role] <env> rows only"
  | { runPolicy: true } // 42501 from the RESTRICTIVE policy "[backtest-run] rows of the transaction's run only" (precog_backtest)
  | { denied: true } // 42501 "permission denied": no privilege for the statement
  | { missingReference: true } // 23503: the referenced row does not exist, or a referenced row is kept
  | { ok: true } // succeeds
  | { invisible: true } // row-level security hides the row: 0 rows affected
  | { allowed: true } // succeeds and affects rows
  | { rows: number }; // SELECT count(*) AS n

export interface RuleCase {
  /** The rule the case is about, for the summary. */
  rule: string;
  table: string;
  name: string;
  sql: (fixtures: Fixtures) => { text: string; params?: unknown[] };
  expect: Record<Actor, Outcome>;
  /** Actors for which the schema is known to fail the case (the case runs as it.fails). */
  knownDefects?: Partial<Record<Actor, string>>;
  /** Expected counts (`{ rows: -1 }`) when the case's name does not say: per actor, from the fixtures. */
  counts?: (fixtures: Fixtures, actor: Actor) => number;
}

type Role = 'precog_live' | 'precog_paper' | 'precog_backtest';
const envOf = (actor: Role) => actor.slice('precog_'.length) as Environment;
const rule = (name: string): Outcome => ({ rule: name });
const denied: Outcome = { denied: true };
const invisible: Outcome = { invisible: true };
const allowed: Outcome = { allowed: true };

function outcomes(owner: Outcome, role: (environment: Environment) => Outcome, analyst: Outcome = denied): Record<Actor, Outcome> {
  return {
    owner,
    precog_live: role('live'),
    precog_paper: role('paper'),
    precog_backtest: role('backtest'),
    precog_analyst: analyst,
  };
}
/** The owner and the three environment roles meet the same outcome; the analyst writes nothing. */
const everyWriter = (outcome: Outcome) => outcomes(outcome, () => outcome);
/** The owner meets the outcome; the roles have no privilege for the statement. */
const ownerOnly = (outcome: Outcome) => outcomes(outcome, () => denied);
/** A write to a row of `environment`: its role meets the outcome, the other roles cannot see the row. */
const rowOf = (environment: Environment, outcome: Outcome) => outcomes(outcome, (e) => (e === environment ? outcome : invisible));
/**
 * A role's refusal of a new row of another environment, by its policy. precog_backtest's is its
 * [backtest-run] policy (checked first, by name): a live or paper row is of no run, so not of its run.
 */
const policyOf = (role: Environment): Outcome => (role === 'backtest' ? { runPolicy: true } : { role });
/** A new row of `environment`: its role meets the outcome, the other roles are refused by their policy. */
const newRowOf = (environment: Environment, outcome: Outcome) => outcomes(outcome, (e) => (e === environment ? outcome : policyOf(e)));

const OTHER: Record<Environment, Environment> = { live: 'paper', paper: 'live', backtest: 'live' };

/** The run of a new row of `environment`: the fixtures' run for backtest rows, none for live and paper. */
const runFor = (fx: Fixtures, table: string, environment: Environment) => (environment === 'backtest' ? fx[table]!.backtest.runs!.run : null);
/** The environment of a row, and the run that goes with it. */
const inEnvironment = (fx: Fixtures, table: string, environment: Environment): Row => ({ execution_environment: environment, [RUN_COLUMN]: runFor(fx, table, environment) });

/** The cases of one tagged table. */
export function tableCases(table: TaggedTable, registry: Registry): RuleCase[] {
  const t = ident(table.name);
  const cases: RuleCase[] = [];
  const add = (c: Omit<RuleCase, 'table'>) => cases.push({ ...c, table: table.name, name: `${table.name} (${table.kind}): ${c.name}` });
  const row = (fx: Fixtures, environment: Environment, which: 'free' | 'superseded' | 'current' = 'free') => fx[table.name]![environment][which]!;
  const update = (set: string, target: (fx: Fixtures) => Row, extra: (fx: Fixtures) => unknown[] = () => []) => (fx: Fixtures) => ({
    text: `UPDATE ${t} SET ${set} WHERE ${rowsWhere(table, 1)}`,
    params: [keyOf(table, [target(fx)]), ...extra(fx)],
  });
  const withoutEnvironment = insertableColumns(table).filter((c) => c !== 'execution_environment');

  // [environment-required]: no default, no NULL
  add({
    rule: 'environment-required',
    name: 'INSERT without execution_environment',
    sql: (fx) => insertRow(table, copyOf(table, row(fx, 'paper')), withoutEnvironment),
    expect: everyWriter(rule('environment-required')),
  });
  add({
    rule: 'environment-required',
    name: 'INSERT with execution_environment NULL',
    sql: (fx) => insertRow(table, copyOf(table, row(fx, 'paper'), { execution_environment: null })),
    expect: everyWriter(rule('environment-required')),
  });

  // [environment-immutable]: no role may even name the column in an UPDATE; the owner meets the guard
  const targets: ['free' | 'superseded' | 'current', string][] =
    table.kind === 'versioned' ? [['superseded', 'a superseded version'], ['current', 'a current version']] : [['free', 'a row']];
  for (const [which, what] of targets) {
    for (const [from, to] of [['paper', 'live'], ['live', 'backtest']] as const) {
      add({
        rule: 'environment-immutable',
        name: `UPDATE of the environment of ${what} (${from} -> ${to})`,
        sql: update(`execution_environment = '${to}'`, (fx) => row(fx, from, which)),
        expect: ownerOnly(rule('environment-immutable')),
      });
    }
  }
  if (table.kind === 'versioned' && !table.businessKey.includes('execution_environment')) {
    // Every version of a business key keeps the environment of the first (precog bug #662).
    for (const [from, to] of [['paper', 'live'], ['live', 'paper'], ['backtest', 'live']] as const) {
      add({
        rule: 'environment-immutable',
        name: `a ${to} version of a ${from} ${table.businessKey.join(', ')}`,
        sql: (fx) => insertRow(table, copyOf(table, row(fx, from, 'superseded'), inEnvironment(fx, table.name, to))),
        // The key guard (SECURITY DEFINER) runs before row-level security: it sees versions the caller cannot.
        expect: everyWriter(rule('environment-immutable')),
      });
    }
  }

  // [environment-role]: each role writes its own environment only; the analyst nothing
  for (const environment of ENVIRONMENTS) {
    add({
      rule: 'environment-role',
      name: `INSERT of a new ${environment} row`,
      sql: (fx) => insertRow(table, copyOf(table, row(fx, environment))),
      expect: newRowOf(environment, allowed),
    });
  }
  add({
    rule: 'environment-role',
    name: 'INSERT straight into the paper partition',
    sql: (fx) => {
      const { text, params } = insertRow(table, copyOf(table, row(fx, 'paper')));
      return { text: text.replace(`INSERT INTO ${t} `, `INSERT INTO ${ident(table.partitions.paper)} `), params };
    },
    expect: ownerOnly(allowed),
  });

  // Reads: each role its own environment; the analyst and the owner everything; partitions nobody
  add({
    rule: 'environment-role',
    name: 'reading every row',
    sql: () => ({ text: `SELECT count(*)::int AS n FROM ${t}` }),
    expect: {
      owner: { rows: -1 }, // filled in by the runner: the fixtures' total
      precog_live: { rows: -1 },
      precog_paper: { rows: -1 },
      precog_backtest: { rows: -1 },
      precog_analyst: { rows: -1 },
    },
  });
  for (const environment of ENVIRONMENTS) {
    add({
      rule: 'environment-role',
      name: `reading the ${environment} rows`,
      sql: () => ({ text: `SELECT count(*)::int AS n FROM ${t} WHERE execution_environment = '${environment}'` }),
      expect: outcomes({ rows: -1 }, (e) => (e === environment ? { rows: -1 } : { rows: 0 }), { rows: -1 }),
    });
    add({
      rule: 'environment-role',
      name: `reading the ${environment} partition directly`,
      sql: () => ({ text: `SELECT count(*)::int AS n FROM ${ident(table.partitions[environment])}` }),
      expect: ownerOnly({ rows: -1 }),
    });
  }

  // The kind's write rules
  if (table.kind === 'append_only') {
    for (const environment of ['live', 'paper', 'backtest'] as const) {
      add({
        rule: 'append-only',
        name: `UPDATE of a ${environment} row (even to the same value)`,
        sql: (fx) => {
          const column = ident(withoutEnvironment[0]!);
          return update(`${column} = ${column}`, () => row(fx, environment))(fx);
        },
        expect: ownerOnly(rule('append-only')),
      });
    }
    add({
      rule: 'append-only',
      name: 'UPDATE of a paper row, changing a column',
      sql: (fx) => {
        const change = changeableColumn(table, row(fx, 'paper'), [])!;
        return update(`${ident(change.column.name)} = ${change.expression}`, () => row(fx, 'paper'))(fx);
      },
      expect: ownerOnly(rule('append-only')),
    });
  }
  if (table.kind === 'versioned') {
    const current = ident(table.currentColumn!);
    const end = ident(table.endColumn!);
    const scd = [table.currentColumn!, table.endColumn!];
    add({
      rule: 'version-history-immutable',
      name: 'UPDATE of a superseded paper version, changing a column',
      sql: (fx) => {
        const change = changeableColumn(table, row(fx, 'paper', 'superseded'), scd)!;
        return update(`${ident(change.column.name)} = ${change.expression}`, () => row(fx, 'paper', 'superseded'))(fx);
      },
      expect: ownerOnly(rule('version-history-immutable')),
    });
    add({
      rule: 'version-history-immutable',
      name: 're-opening a superseded paper version',
      sql: update(`${current} = true, ${end} = NULL`, (fx) => row(fx, 'paper', 'superseded')),
      expect: rowOf('paper', rule('version-history-immutable')),
    });
    add({
      rule: 'version-history-immutable',
      name: `UPDATE of a superseded live version's ${table.endColumn}`,
      sql: update(`${end} = clock_timestamp()`, (fx) => row(fx, 'live', 'superseded')),
      expect: rowOf('live', rule('version-history-immutable')),
    });
    add({
      rule: 'version-immutable',
      name: 'UPDATE in place of a current paper version',
      sql: (fx) => {
        const change = changeableColumn(table, row(fx, 'paper', 'current'), scd)!;
        return update(`${ident(change.column.name)} = ${change.expression}`, () => row(fx, 'paper', 'current'))(fx);
      },
      expect: ownerOnly(rule('version-immutable')),
    });
    add({
      rule: 'version-immutable',
      name: `UPDATE in place of a current live version, closing it too`,
      sql: (fx) => {
        const change = changeableColumn(table, row(fx, 'live', 'current'), scd)!;
        return update(`${ident(change.column.name)} = ${change.expression}, ${current} = false, ${end} = clock_timestamp()`, () => row(fx, 'live', 'current'))(fx);
      },
      expect: ownerOnly(rule('version-immutable')),
    });
    add({
      rule: 'version-immutable',
      name: `setting ${table.endColumn} of a current paper version without closing it`,
      sql: update(`${end} = clock_timestamp()`, (fx) => row(fx, 'paper', 'current')),
      expect: rowOf('paper', rule('version-immutable')),
    });
    for (const environment of ENVIRONMENTS) {
      add({
        rule: 'version-immutable',
        name: `closing a current ${environment} version (allowed)`,
        sql: update(`${current} = false, ${end} = clock_timestamp()`, (fx) => row(fx, environment, 'current')),
        expect: rowOf(environment, allowed),
      });
    }
  }
  if (table.kind === 'mutable') {
    add({
      rule: 'immutable-column',
      name: 'UPDATE of a paper row, changing a column that is not mutable',
      sql: (fx) => {
        const change = changeableColumn(table, row(fx, 'paper'), table.mutableColumns)!;
        return update(`${ident(change.column.name)} = ${change.expression}`, () => row(fx, 'paper'))(fx);
      },
      expect: ownerOnly(rule('immutable-column')),
    });
    add({
      rule: 'immutable-column',
      name: 'UPDATE of a live row, changing a mutable and a fixed column',
      sql: (fx) => {
        const change = changeableColumn(table, row(fx, 'live'), table.mutableColumns)!;
        const mutable = ident(table.mutableColumns[0]!);
        return update(`${mutable} = ${mutable}, ${ident(change.column.name)} = ${change.expression}`, () => row(fx, 'live'))(fx);
      },
      expect: ownerOnly(rule('immutable-column')),
    });
    for (const column of table.mutableColumns) {
      for (const environment of ENVIRONMENTS) {
        add({
          rule: 'immutable-column',
          name: `UPDATE of ${column} of a ${environment} row (allowed)`,
          sql: (fx) => {
            const target = row(fx, environment);
            // Another value the column holds in the fixtures (so it passes the table's CHECKs), else its own.
            const other = ENVIRONMENTS.map((e) => row(fx, e)[column]).find((v) => JSON.stringify(v) !== JSON.stringify(target[column])) ?? target[column];
            return update(`${ident(column)} = (jsonb_populate_record(NULL::${t}, $2::jsonb)).${ident(column)}`, () => target, () => [JSON.stringify({ [column]: other })])(fx);
          },
          expect: rowOf(environment, allowed),
        });
      }
    }
  }

  runCases(table, add);

  // [identity-issued]: an environment role does not choose ids (OVERRIDING SYSTEM VALUE); the owner may
  const identity = table.columns.find((c) => c.generated && table.primaryKey.includes(c.name));
  if (identity) {
    const overriding = (values: Row) => {
      const { text, params } = insertRow(table, values, [identity.name, ...insertableColumns(table)]);
      return { text: text.replace(') SELECT ', ') OVERRIDING SYSTEM VALUE SELECT '), params };
    };
    for (const environment of ENVIRONMENTS) {
      add({
        rule: 'identity-issued',
        name: `a new ${environment} row with the ${identity.name} of a ${OTHER[environment]} row (OVERRIDING SYSTEM VALUE)`,
        sql: (fx) => overriding({ ...copyOf(table, row(fx, environment)), [identity.name]: row(fx, OTHER[environment])[identity.name] }),
        expect: outcomes(allowed, (e) => (e === environment ? rule('identity-issued') : policyOf(e))),
      });
    }
    add({
      rule: 'identity-issued',
      name: `a new paper row with a ${identity.name} the sequence has not issued yet (OVERRIDING SYSTEM VALUE)`,
      sql: (fx) => overriding({ ...copyOf(table, row(fx, 'paper')), [identity.name]: 2_000_000_000 }),
      expect: outcomes(allowed, (e) => (e === 'paper' ? rule('identity-issued') : policyOf(e))),
    });
  }

  // [live-history-kept]
  add({
    rule: 'live-history-kept',
    name: 'DELETE of a live row',
    sql: (fx) => ({ text: `DELETE FROM ${t} WHERE ${rowsWhere(table, 1)}`, params: [keyOf(table, [row(fx, 'live')])] }),
    expect: ownerOnly(rule('live-history-kept')),
  });
  add({
    rule: 'live-history-kept',
    name: 'DELETE of a live row, through the live partition',
    sql: (fx) => ({ text: `DELETE FROM ${ident(table.partitions.live)} WHERE ${rowsWhere(table, 1)}`, params: [keyOf(table, [row(fx, 'live')])] }),
    expect: ownerOnly(rule('live-history-kept')),
  });
  add({
    rule: 'live-history-kept',
    name: 'DELETE of a paper row nothing references (deliberate, the owner only; roles purge through purge_backtest_data())',
    sql: (fx) => ({ text: `DELETE FROM ${t} WHERE ${rowsWhere(table, 1)}`, params: [keyOf(table, [row(fx, 'paper')])] }),
    expect: ownerOnly(allowed),
  });
  for (const [name, target] of [
    ['the table', table.name],
    ['its live partition', table.partitions.live],
    ['its paper partition', table.partitions.paper],
  ] as const) {
    add({
      rule: 'live-history-kept',
      name: `TRUNCATE of ${name}`,
      sql: () => ({ text: `TRUNCATE ${ident(target)}` }),
      expect: ownerOnly(rule('live-history-kept')),
    });
  }
  add({
    rule: 'live-history-kept',
    name: 'TRUNCATE of the table and its live and paper partitions with CASCADE',
    sql: () => ({ text: `TRUNCATE ${ident(table.partitions.paper)}, ${ident(table.partitions.live)} CASCADE` }),
    expect: ownerOnly(rule('live-history-kept')),
  });
  // Only purge_backtest_data() truncates a backtest partition, every one together: a reference
  // between two tagged tables would otherwise be left pointing at nothing.
  add({
    rule: 'backtest-purged-together',
    name: 'TRUNCATE of its backtest partition alone',
    sql: () => ({ text: `TRUNCATE ${ident(table.partitions.backtest)}` }),
    expect: ownerOnly(rule('backtest-purged-together')),
  });
  return cases;
}

/**
 * The rules of backtest runs (migration 000013) for one table: every backtest row belongs to a
 * run that exists, live and paper rows to none ([backtest-run-required]); precog_backtest reads
 * and writes the rows of its transaction's run only ([backtest-run]); a versioned key stays in
 * its run ([environment-immutable]). precog_backtest's attempts run in the fixtures' run.
 */
function runCases(table: TaggedTable, add: (c: Omit<RuleCase, 'table'>) => void): void {
  const t = ident(table.name);
  const fixtures = (fx: Fixtures) => fx[table.name]!.backtest;
  const backtestRow = (fx: Fixtures) => fixtures(fx).free;
  const otherRunRow = (fx: Fixtures) => fixtures(fx).otherRunRow!;
  const runsOf = (fx: Fixtures) => fixtures(fx).runs!;
  const closed = (): Row => (table.kind === 'versioned' ? { [table.currentColumn!]: false, [table.endColumn!]: new Date().toISOString() } : {});
  const freshKey = (row: Row): Row =>
    table.kind === 'versioned' && !table.businessKey.includes('execution_environment')
      ? Object.fromEntries(table.businessKey.map((c) => [c, fresh(row[c])]))
      : {};

  add({
    rule: 'backtest-run-required',
    name: 'INSERT of a backtest row with backtest_run_id NULL',
    sql: (fx) => insertRow(table, copyOf(table, backtestRow(fx), { [RUN_COLUMN]: null })),
    // Refused by a BEFORE trigger on <t>_backtest (WHEN the run is NULL), before any policy is checked.
    expect: everyWriter(rule('backtest-run-required')),
  });
  add({
    rule: 'backtest-run-required',
    name: 'INSERT of a backtest row without backtest_run_id (the run of the transaction, if any)',
    sql: (fx) => insertRow(table, copyOf(table, backtestRow(fx)), insertableColumns(table).filter((c) => c !== RUN_COLUMN)),
    // precog_backtest's transaction has a run (as a backtest scope's does): the row is filed under it.
    expect: outcomes(rule('backtest-run-required'), (e) => (e === 'backtest' ? allowed : rule('backtest-run-required'))),
  });
  add({
    rule: 'backtest-run-required',
    name: 'INSERT of a backtest row of a run that does not exist',
    sql: (fx) => insertRow(table, copyOf(table, backtestRow(fx), { [RUN_COLUMN]: 2_000_000_000 })),
    // The owner's insert reaches the statement check of the run (000018); a role's is refused first
    // by its policy: precog_backtest writes its transaction's run only, the others no backtest row.
    // A versioned table's key guard runs before any policy and refuses it by the same rule.
    expect:
      table.kind === 'versioned' && !table.businessKey.includes('execution_environment')
        ? everyWriter(rule('backtest-run-required'))
        : outcomes(rule('backtest-run-required'), (e) => (e === 'backtest' ? { runPolicy: true } : policyOf(e))),
  });
  for (const environment of ['live', 'paper'] as const) {
    add({
      rule: 'backtest-run-required',
      name: `INSERT of a ${environment} row with a backtest run`,
      sql: (fx) => insertRow(table, copyOf(table, fx[table.name]![environment].free, { [RUN_COLUMN]: runsOf(fx).run })),
      expect: everyWriter(rule('backtest-run-required')),
    });
  }
  add({
    rule: 'backtest-run',
    name: 'reading the rows of another backtest run',
    sql: (fx) => ({ text: `SELECT count(*)::int AS n FROM ${t} WHERE backtest_run_id = $1`, params: [runsOf(fx).otherRun] }),
    expect: outcomes({ rows: -1 }, () => ({ rows: 0 }), { rows: -1 }),
    counts: (fx) => fx[table.name]!.backtest.count - fixtures(fx).runCount!,
  });
  add({
    rule: 'backtest-run',
    name: 'reading a row of another backtest run by its key',
    sql: (fx) => ({ text: `SELECT count(*)::int AS n FROM ${t} WHERE ${rowsWhere(table, 1)}`, params: [keyOf(table, [otherRunRow(fx)])] }),
    expect: outcomes({ rows: 1 }, () => ({ rows: 0 }), { rows: 1 }),
  });
  add({
    rule: 'backtest-run',
    name: 'INSERT of a new row into another backtest run',
    // A superseded version, for versioned tables: the other run's current one keeps its place.
    sql: (fx) => insertRow(table, copyOf(table, otherRunRow(fx), { ...freshKey(otherRunRow(fx)), ...closed() })),
    // The owner writes any run; precog_backtest only its transaction's.
    expect: outcomes(allowed, (e) => (e === 'backtest' ? { runPolicy: true } : policyOf(e))),
  });
  const update =
    table.kind === 'versioned'
      ? `${ident(table.currentColumn!)} = false, ${ident(table.endColumn!)} = clock_timestamp()`
      : table.kind === 'mutable'
        ? `${ident(table.mutableColumns[0]!)} = ${ident(table.mutableColumns[0]!)}`
        : undefined;
  if (update) {
    add({
      rule: 'backtest-run',
      name: `UPDATE of a row of another backtest run (${table.kind === 'versioned' ? 'closing its current version' : `its ${table.mutableColumns[0]}`})`,
      sql: (fx) => ({ text: `UPDATE ${t} SET ${update} WHERE ${rowsWhere(table, 1)}`, params: [keyOf(table, [otherRunRow(fx)])] }),
      // Allowed where it is visible (the owner); precog_backtest does not see another run's rows.
      expect: outcomes(allowed, () => invisible),
    });
  }
  if (table.kind === 'versioned' && !table.businessKey.includes('execution_environment')) {
    add({
      rule: 'environment-immutable',
      name: `a version in the fixtures' run of a ${table.businessKey.join(', ')} of another backtest run`,
      sql: (fx) => insertRow(table, copyOf(table, otherRunRow(fx), { [RUN_COLUMN]: runsOf(fx).run, ...closed() })),
      // The key guard (SECURITY DEFINER) runs before row-level security: it sees the key's run, which the caller cannot.
      expect: everyWriter(rule('environment-immutable')),
    });
  }
}

/** The cases of one reference between tagged tables: a reference never crosses environments. */
export function referenceCases(reference: Registry['references'][number], registry: Registry): RuleCase[] {
  const table = registry.tables.find((t) => t.name === reference.table)!;
  const referenced = registry.tables.find((t) => t.name === reference.referencedTable)!;
  const label = `${table.name} (${reference.columns.join(', ')}) -> ${referenced.name} (${reference.referencedColumns.join(', ')})`;
  // The referencing row: for a versioned table a superseded version (a copy of it is a new row).
  const source = (fx: Fixtures, environment: Environment) => fx[table.name]![environment].using[reference.columns.join(',')]!;
  // A row of the referenced table in `environment` that the fixtures reference (so it exists).
  const target = (fx: Fixtures, environment: Environment) => fx[referenced.name]![environment].current ?? fx[referenced.name]![environment].free;
  const pointing = (fx: Fixtures, environment: Environment, at: Environment) => {
    const to = target(fx, at);
    const changes = Object.fromEntries(reference.columns.map((c, i) => [c, to[reference.referencedColumns[i]!]]));
    return insertRow(table, copyOf(table, source(fx, environment), changes));
  };
  const cases: RuleCase[] = [];
  for (const [environment, at] of [['paper', 'live'], ['live', 'backtest'], ['backtest', 'paper']] as const) {
    cases.push({
      rule: 'environment-cross-reference',
      table: table.name,
      name: `${label}: a ${environment} row referencing a ${at} row`,
      sql: (fx) => pointing(fx, environment, at),
      // The check runs per statement, after row-level security: a role writing another environment's row is refused by its policy first.
      // A backtest row's reference is checked within its run: refused as one to no row of the run (Hardening II, class 7).
      expect: newRowOf(environment, rule(environment === 'backtest' ? 'backtest-run-cross-reference' : 'environment-cross-reference')),
    });
  }
  for (const environment of ENVIRONMENTS) {
    cases.push({
      rule: 'environment-cross-reference',
      table: table.name,
      name: `${label}: a ${environment} row referencing a ${environment} row (allowed)`,
      sql: (fx) => pointing(fx, environment, environment),
      expect: newRowOf(environment, allowed),
    });
  }
  cases.push({
    rule: 'backtest-run-cross-reference',
    table: table.name,
    name: `${label}: a backtest row of one run referencing a row of another run`,
    sql: (fx) => {
      const to = fx[referenced.name]!.backtest.otherRunRow!;
      const changes = Object.fromEntries(reference.columns.map((c, i) => [c, to[reference.referencedColumns[i]!]]));
      return insertRow(table, copyOf(table, source(fx, 'backtest'), changes));
    },
    // Checked per statement, as the owner (SECURITY DEFINER): precog_backtest is refused though it cannot see the other run's row.
    expect: newRowOf('backtest', rule('backtest-run-cross-reference')),
  });
  cases.push({
    rule: 'environment-cross-reference',
    table: table.name,
    name: `${label}: a paper row referencing no row`,
    sql: (fx) => {
      const changes = Object.fromEntries(reference.columns.map((c) => [c, typeof source(fx, 'paper')[c] === 'string' ? 'missing' : 2_000_000_000]));
      return insertRow(table, copyOf(table, source(fx, 'paper'), changes));
    },
    // The same refusal as a row of another environment: a role learns nothing of rows it cannot see.
    expect: newRowOf('paper', rule('environment-cross-reference')),
  });
  cases.push({
    rule: 'environment-cross-reference',
    table: referenced.name,
    name: `${label}: DELETE of a paper ${referenced.name} row that a ${table.name} row references`,
    sql: (fx) => {
      const pairs = reference.referencedColumns.map(ident).join(', ');
      const columns = reference.columns.map(ident).join(', ');
      return {
        text: `DELETE FROM ${ident(referenced.name)} WHERE (${pairs}, execution_environment) IN
                 (SELECT ${columns}, execution_environment FROM ${ident(table.name)} WHERE execution_environment = 'paper')`,
      };
    },
    expect: ownerOnly({ missingReference: true }),
  });
  return cases;
}

/** A reference from a tagged table to a shared one (strategies, platforms, ...): the referenced row must exist. */
export function sharedReferenceCases(reference: Registry['sharedReferences'][number], registry: Registry): RuleCase[] {
  const table = registry.tables.find((t) => t.name === reference.table);
  if (!table) return [];
  return [
    {
      rule: 'environment-cross-reference',
      table: table.name,
      name: `${table.name} (${reference.columns.join(', ')}) -> shared ${reference.referencedTable} (${reference.referencedColumns.join(', ')}): a paper row referencing no row`,
      sql: (fx) => {
        const source = fx[table.name]!.paper.free;
        const column = (name: string) => table.columns.find((c) => c.name === name)!;
        const changes = Object.fromEntries(reference.columns.map((c) => [c, column(c).category === 'N' ? 2_000_000_000 : `missing-${c}`]));
        return insertRow(table, copyOf(table, source, changes));
      },
      expect: newRowOf('paper', { missingReference: true }),
    },
  ];
}

/** Cases over the whole registry. */
export function registryCases(registry: Registry): RuleCase[] {
  const backtest = registry.tables.map((t) => ident(t.partitions.backtest)).join(', ');
  return [
    {
      rule: 'live-history-kept',
      table: '*',
      name: 'every table: purge_backtest_data() (the owner and precog_backtest_admin only)',
      sql: () => ({ text: 'SELECT * FROM purge_backtest_data()' }),
      expect: outcomes({ rows: -1 }, () => denied),
    },
    {
      rule: 'backtest-purged-together',
      // The first partition named is the first refused.
      table: registry.tables[0]!.name,
      name: 'every table: TRUNCATE of every backtest partition together, by hand (only purge_backtest_data() does)',
      sql: () => ({ text: `TRUNCATE ${backtest}` }),
      expect: ownerOnly(rule('backtest-purged-together')),
    },
  ];
}

export function allCases(registry: Registry): RuleCase[] {
  return [
    ...registry.tables.flatMap((table) => tableCases(table, registry)),
    ...registry.references.flatMap((reference) => referenceCases(reference, registry)),
    ...registry.sharedReferences.flatMap((reference) => sharedReferenceCases(reference, registry)),
    ...registryCases(registry),
  ];
}

/** Expected row counts (`{ rows: -1 }` in a case) come from the fixtures. */
function resolveCounts(c: RuleCase, actor: Actor, fixtures: Fixtures, registry: Registry): Outcome {
  const outcome = c.expect[actor];
  if (!('rows' in outcome) || outcome.rows !== -1) return outcome;
  if (c.table === '*') return { rows: registry.tables.length }; // purge: one row per table
  if (c.counts) return { rows: c.counts(fixtures, actor) };
  const counts = fixtures[c.table]!;
  // precog_backtest sees the backtest rows of its run only ([backtest-run]).
  const count = (e: Environment) => (e === 'backtest' && actor === 'precog_backtest' ? counts.backtest.runCount! : counts[e].count);
  const total = (environments: readonly Environment[]) => environments.reduce((n, e) => n + count(e), 0);
  const named = ENVIRONMENTS.find((e) => c.name.includes(`the ${e} `));
  const seen = named ? [named] : actor.startsWith('precog_') && actor !== 'precog_analyst' ? [envOf(actor as Role)] : ENVIRONMENTS;
  return { rows: total(seen) };
}

export function checkOutcome(outcome: Outcome, result: Attempt, table: string, label: string): void {
  const { error } = result;
  const got = error ? `${error.code} ${error.message}` : `ok, ${result.rowCount} rows ${JSON.stringify(result.rows).slice(0, 200)}`;
  const context = `${label}: got ${got}`;
  if ('rule' in outcome) {
    expect(error, context).toBeDefined();
    expect(error!.message, context).toMatch(new RegExp(`^\\[${outcome.rule}\\] `));
    expect(error!.code, context).toBe('P0001');
    expect(error!.hint, `${context} (a HINT says what to do instead)`).toBeTruthy();
    expect(error!.table, context).toBe(table);
  } else if ('role' in outcome) {
    expect(error?.code, context).toBe('42501');
    expect(error!.message, context).toBe(`new row violates row-level security policy "[environment-role] ${outcome.role} rows only" for table "${table}"`);
  } else if ('runPolicy' in outcome) {
    expect(error?.code, context).toBe('42501');
    expect(error!.message, context).toBe(`new row violates row-level security policy "[backtest-run] rows of the transaction's run only" for table "${table}"`);
  } else if ('denied' in outcome) {
    expect(error?.code, context).toBe('42501');
    expect(error!.message, context).toMatch(/^permission denied for (table|view|function) /);
  } else if ('missingReference' in outcome) {
    expect(error?.code, context).toBe('23503');
    expect(error!.constraint, context).toMatch(/_reference$/);
  } else if ('ok' in outcome) {
    expect(error, context).toBeUndefined();
  } else if ('invisible' in outcome) {
    expect(error, context).toBeUndefined();
    expect(result.rowCount, context).toBe(0);
  } else if ('allowed' in outcome) {
    expect(error, context).toBeUndefined();
    expect(result.rowCount, context).toBeGreaterThan(0);
  } else {
    expect(error, context).toBeUndefined();
    expect(result.rows[0]?.n ?? result.rows.length, context).toBe(outcome.rows);
  }
}

/** A database of its own for a suite, cloned from the migrated template, with `setup` SQL committed in it. */
export interface SuiteDatabase {
  database: string;
  pool: pg.Pool;
  registry: Registry;
  drop(): Promise<void>;
}

export async function suiteDatabase(setup?: string): Promise<SuiteDatabase> {
  const server = testServer();
  const database = `precog_test_${randomBytes(4).toString('hex')}`;
  await cloneDatabase(server, inject('template'), database);
  const pool = poolFor(database, server);
  try {
    if (setup) await pool.query(setup);
    const client = await pool.connect();
    const registry = await loadRegistry(client).finally(() => client.release());
    return {
      database,
      pool,
      registry,
      drop: async () => {
        await pool.end();
        await dropDatabase(server, database);
      },
    };
  } catch (error) {
    await pool.end();
    await dropDatabase(server, database);
    throw error;
  }
}

export interface RuleSummary {
  tables: number;
  references: number;
  cases: number;
  attempts: number;
  refusals: number;
  rules: string[];
  knownDefects: number;
}

/**
 * Declares the generated cases as tests: one transaction over the suite's database, `seed` run
 * in it, each attempt in a savepoint rolled back (so every attempt starts from the same rows).
 */
export function defineEnvironmentRuleSuite(db: SuiteDatabase, seed: (client: pg.ClientBase) => Promise<unknown>): RuleSummary {
  const cases = allCases(db.registry);
  const matrix = cases.flatMap((c) => ACTORS.map((actor) => ({ c, actor, defect: c.knownDefects?.[actor] })));
  let client: pg.PoolClient;
  let fixtures: Fixtures;
  beforeAll(async () => {
    client = await db.pool.connect();
    await client.query('BEGIN');
    await seed(client);
    fixtures = await loadFixtures(client, db.registry);
  });
  afterAll(async () => {
    await client?.query('ROLLBACK').catch(() => undefined);
    client?.release();
  });
  for (const { c, actor, defect } of matrix) {
    const title = `${c.name}, as ${actor}`;
    const body = async () => {
      const { text, params } = c.sql(fixtures);
      const outcome = resolveCounts(c, actor, fixtures, db.registry);
      const run = fixtures[db.registry.tables[0]!.name]!.backtest.runs!.run;
      checkOutcome(outcome, await attempt(client, actor, text, params, run), c.table === '*' ? '' : c.table, title);
    };
    if (defect) it.fails(`${title} [known schema defect: ${defect}]`, body);
    else it(title, body);
  }
  const refusals = matrix.filter(({ c, actor }) => {
    const o = c.expect[actor];
    return !('allowed' in o) && !('rows' in o) && !('invisible' in o) && !('ok' in o);
  });
  const rules = [
    ...new Set(cases.flatMap((c) => Object.values(c.expect).flatMap((o) => ('rule' in o ? [o.rule] : 'role' in o ? ['environment-role'] : 'runPolicy' in o ? ['backtest-run'] : [])))),
  ].sort();
  return {
    tables: db.registry.tables.length,
    references: db.registry.references.length,
    cases: cases.length,
    attempts: matrix.length,
    refusals: refusals.length,
    rules,
    knownDefects: matrix.filter((m) => m.defect).length,
  };
}

export const ALL_RULES = [
  'append-only',
  'backtest-purged-together',
  'backtest-run',
  'backtest-run-cross-reference',
  'backtest-run-required',
  'environment-cross-reference',
  'environment-immutable',
  'environment-required',
  'environment-role',
  'identity-issued',
  'immutable-column',
  'live-history-kept',
  'version-history-immutable',
  'version-immutable',
];

/** The catalog guarantees of one tagged table, checked per table (not per actor). */
export function defineCatalogSuite(db: SuiteDatabase): void {
  const roles = ['precog_live', 'precog_paper', 'precog_backtest', 'precog_analyst'];
  for (const table of db.registry.tables) {
    describe(`${table.name} (${table.kind}): the catalog`, () => {
      const q = <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => db.pool.query<T>(sql, params).then((r) => r.rows);
      const partitions = [...ENVIRONMENTS, 'missing' as const].map((e) => table.partitions[e]);

      it('execution_environment is NOT NULL with no DEFAULT, on the table and every partition', async () => {
        const rows = await q(
          `SELECT c.relname AS relation, a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default, format_type(a.atttypid, a.atttypmod) AS type
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attname = 'execution_environment' AND c.relname = ANY($1) ORDER BY 1`,
          [[table.name, ...partitions]],
        );
        expect(rows).toEqual([table.name, ...partitions].sort().map((relation) => ({ relation, not_null: true, default: null, type: 'execution_environment' })));
      });

      it('is LIST-partitioned by execution_environment: one partition per environment and one for NULL, none with a grant, each with row-level security and no policy', async () => {
        const rows = await q(
          `SELECT pg_get_partkeydef($1::regclass) AS key,
                  (SELECT coalesce(array_agg(c.relname::text || ' ' || pg_get_expr(c.relpartbound, c.oid) || ' rls=' || c.relrowsecurity
                            || ' policies=' || (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
                            || ' privileges=' || coalesce((SELECT string_agg(r || ':' || x, ',') FROM unnest($2::text[]) r CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x
                                                           WHERE has_table_privilege(r, c.oid, x)), '') ORDER BY c.relname), '{}')
                     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass) AS partitions`,
          [`public.${ident(table.name)}`, roles],
        );
        const bound = (e: string) => (e === 'missing' ? 'FOR VALUES IN (NULL)' : `FOR VALUES IN ('${e}')`);
        expect(rows[0]).toEqual({
          key: 'LIST (execution_environment)',
          partitions: [...ENVIRONMENTS, 'missing' as const]
            .map((e) => `${table.partitions[e]} ${bound(e)} rls=true policies=0 privileges=`)
            .sort(),
        });
      });

      it('has row-level security with one RESTRICTIVE "[environment-role] <env> rows only" policy per environment role, the [backtest-run] one for precog_backtest, and the analyst reads all', async () => {
        const rows = await q(
          `SELECT c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
                  (SELECT array_agg(p.policyname || ' ' || p.permissive || ' ' || p.roles::text || ' ' || p.cmd || ' ' || regexp_replace(coalesce(p.qual, '-'), '\\s+', ' ', 'g') || ' ' || coalesce(p.with_check, '-') ORDER BY p.policyname)
                     FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname) AS policies
             FROM pg_class c WHERE c.oid = $1::regclass`,
          [`public.${ident(table.name)}`],
        );
        const only = (e: string) => `(execution_environment = '${e}'::execution_environment)`;
        const run = `(backtest_run_id = ( SELECT precog_backtest_run() AS precog_backtest_run))`;
        // Reading needs the run to exist (a deleted run's rows are gone at once, 000018).
        const existing = `(backtest_run_id = ( SELECT r.id FROM backtest_runs r WHERE (r.id = ( SELECT precog_backtest_run() AS precog_backtest_run))))`;
        const deleted = '((backtest_run_id IS NULL) OR (NOT (backtest_run_id IN ( SELECT d.backtest_run_id FROM precog_backtest_runs_deleted d))))';
        expect(rows[0]).toEqual({
          rls: true,
          forced: false,
          policies: [
            ...ENVIRONMENTS.map((e) => `[environment-role] ${e} rows only RESTRICTIVE {precog_${e}} ALL ${only(e)} ${only(e)}`),
            `[backtest-run] rows of the transaction's run only RESTRICTIVE {precog_backtest} ALL ${existing} ${run}`,
            `[backtest-run-deleted] rows of deleted runs are gone RESTRICTIVE {precog_analyst} ALL ${deleted} -`,
            'analyst_reads_all PERMISSIVE {precog_analyst} SELECT true -',
            'environment_roles PERMISSIVE {precog_backtest,precog_live,precog_paper} ALL true true',
          ].sort(),
        });
      });

      it('grants each environment role SELECT and INSERT, UPDATE of the columns its kind lets change only, no DELETE or TRUNCATE; the analyst SELECT only', async () => {
        const rows = await q<{ role: string; table_privileges: string[]; updatable: string[] }>(
          `SELECT r AS role,
                  ARRAY(SELECT x FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) x WHERE has_table_privilege(r, $1::regclass, x)) AS table_privileges,
                  ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
                          AND has_column_privilege(r, $1::regclass, a.attnum, 'UPDATE') ORDER BY a.attname) AS updatable
             FROM unnest($2::text[]) r ORDER BY r`,
          [`public.${ident(table.name)}`, roles],
        );
        const updatable = (table.kind === 'versioned' ? [table.currentColumn!, table.endColumn!] : table.mutableColumns).slice().sort();
        expect(rows).toEqual(
          roles.slice().sort().map((role) =>
            role === 'precog_analyst'
              ? { role, table_privileges: ['SELECT'], updatable: [] }
              : { role, table_privileges: ['SELECT', 'INSERT'], updatable },
          ),
        );
      });

      it('has the guards of its kind', async () => {
        const rows = await q<{ relation: string; trigger: string; definition: string }>(
          `SELECT c.relname AS relation, t.tgname AS trigger, regexp_replace(pg_get_triggerdef(t.oid), '^CREATE TRIGGER \\S+ ', '') AS definition
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relname = ANY($1) AND NOT t.tgisinternal AND t.tgparentid = 0 AND t.tgenabled = 'O' ORDER BY 1, 2`,
          [[table.name, ...partitions]],
        );
        const has = (relation: string, trigger: string, definition: RegExp) =>
          expect(rows.some((r) => r.relation === relation && r.trigger === trigger && definition.test(r.definition)), `${relation}.${trigger} ${definition}\n${JSON.stringify(rows, null, 1)}`).toBe(true);
        has(table.partitions.missing, 'environment_required', /^BEFORE INSERT .* FOR EACH ROW EXECUTE FUNCTION precog_environment_required\(\)$/);
        const args = table.kind === 'versioned' ? `'versioned', '${table.currentColumn}', '${table.endColumn}'` : [table.kind, ...table.mutableColumns].map((a) => `'${a}'`).join(', ');
        has(table.name, 'environment_update_guard', new RegExp(`^BEFORE UPDATE .* FOR EACH ROW EXECUTE FUNCTION precog_environment_update_guard\\(${args.replace(/[()]/g, '\\$&')}\\)$`));
        for (const target of [table.name, table.partitions.live, table.partitions.paper]) {
          has(target, 'live_history_kept_truncate', /^BEFORE TRUNCATE .* FOR EACH STATEMENT EXECUTE FUNCTION precog_live_history_kept\(\)$/);
        }
        if (table.kind === 'versioned' && !table.businessKey.includes('execution_environment')) {
          has(table.name, 'environment_key_guard', /^BEFORE INSERT .* FOR EACH ROW EXECUTE FUNCTION precog_environment_key_guard\(/);
        }
        for (const reference of db.registry.references.filter((r) => r.table === table.name)) {
          for (const relation of [table.name, ...partitions]) {
            has(relation, 'environment_references', new RegExp(`^AFTER INSERT .* FOR EACH STATEMENT EXECUTE FUNCTION precog_references_${reference.table}\\(\\)$`));
          }
        }
        if (db.registry.references.some((r) => r.referencedTable === table.name)) {
          has(table.name, 'environment_referenced', new RegExp(`^BEFORE DELETE OR UPDATE OF .* FOR EACH ROW EXECUTE FUNCTION precog_referenced_${table.name}\\(\\)$`));
        }
        // Only the backtest partition may lose rows wholesale.
        expect(rows.filter((r) => r.relation === table.partitions.backtest && r.trigger.startsWith('live_history_kept'))).toEqual([]);
        has(table.partitions.backtest, 'backtest_purged_together', /^BEFORE TRUNCATE .* FOR EACH STATEMENT EXECUTE FUNCTION precog_backtest_purged_together\(\)$/);
      });

      it('has backtest runs: backtest_run_id defaulting to the transaction\'s run, one backtest partition with run-led indexes, a run required there and refused on live and paper, unique keys with the run', async () => {
        const [column] = await q(
          `SELECT format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped`,
          [`public.${ident(table.name)}`, RUN_COLUMN],
        );
        expect(column).toEqual({ type: 'bigint', not_null: false, default: `(NULLIF(current_setting('precog.backtest_run'::text, true), ''::text))::bigint` });
        const prefix = table.name.slice(0, 40);
        // One backtest partition holds every run (000018): not partitioned further, no grant; each
        // index of the table has a twin there led by the run.
        const [backtest] = await q(
          `SELECT c.relkind AS kind, coalesce((SELECT string_agg(r || ':' || x, ',') FROM unnest($2::text[]) r CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x
                                               WHERE has_table_privilege(r, c.oid, x)), '') AS privileges,
                  EXISTS (SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                           WHERE i.indrelid = c.oid AND a.attname = 'backtest_run_id') AS run_led
             FROM pg_class c WHERE c.oid = $1::regclass`,
          [`public.${ident(table.partitions.backtest)}`, roles],
        );
        expect(backtest).toEqual({ kind: 'r', privileges: '', run_led: true });
        const triggers = await q<{ relation: string; definition: string }>(
          `SELECT c.relname AS relation, regexp_replace(pg_get_triggerdef(t.oid), '^CREATE TRIGGER \\S+ ', '') AS definition FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE t.tgname IN ('backtest_run_required', 'backtest_run_known') AND NOT t.tgisinternal AND t.tgenabled = 'O' AND c.relname = ANY($1) ORDER BY 1, 2`,
          [[table.name, table.partitions.live, table.partitions.paper, table.partitions.backtest]],
        );
        const when = (partition: string, test: string) =>
          `BEFORE INSERT ON public.${partition} FOR EACH ROW WHEN ((new.backtest_run_id IS ${test})) EXECUTE FUNCTION precog_backtest_run_required()`;
        const known = (relation: string) => `AFTER INSERT ON public.${relation} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION precog_backtest_run_known()`;
        expect(triggers).toEqual(
          [
            { relation: table.name, definition: known(table.name) },
            { relation: table.partitions.live, definition: when(table.partitions.live, 'NOT NULL') },
            { relation: table.partitions.paper, definition: when(table.partitions.paper, 'NOT NULL') },
            { relation: table.partitions.backtest, definition: known(table.partitions.backtest) },
            { relation: table.partitions.backtest, definition: when(table.partitions.backtest, 'NULL') },
          ].sort((a, b) => (a.relation < b.relation ? -1 : a.relation > b.relation ? 1 : a.definition < b.definition ? -1 : 1)),
        );
        // Every unique key of the table includes the run (NULLS NOT DISTINCT: unique for live and paper rows too).
        const keys = await q<{ def: string }>(`SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i WHERE i.indrelid = $1::regclass AND i.indisunique`, [
          `public.${ident(table.name)}`,
        ]);
        expect(keys.length).toBeGreaterThan(0);
        for (const { def } of keys) expect(def).toMatch(/, backtest_run_id\) NULLS NOT DISTINCT/);
        const checks = await q(`SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.conname = $2`, [
          `public.${ident(table.name)}`,
          `${prefix}_backtest_run_only_in_backtest`,
        ]);
        expect(checks).toEqual([{ def: `CHECK (((execution_environment = 'backtest'::execution_environment) = (backtest_run_id IS NOT NULL)))` }]);
      });

      it('its live partition refuses DELETE with a row trigger (live_history_kept BEFORE DELETE)', async () => {
        const rows = await q(
          `SELECT t.tgname FROM pg_trigger t WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal AND (t.tgtype & 8) <> 0 AND (t.tgtype & 1) <> 0
              AND t.tgfoid = 'precog_live_history_kept'::regproc`,
          [`public.${ident(table.partitions.live)}`],
        );
        expect(rows).toHaveLength(1);
      });

      if (table.kind === 'versioned') {
        it('has one current version per business key, environment and backtest run (a partial UNIQUE index, NULLS NOT DISTINCT)', async () => {
          const rows = await q<{ def: string }>(
            `SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NOT NULL`,
            [`public.${ident(table.name)}`],
          );
          const key = [...table.businessKey.filter((c) => c !== 'execution_environment'), 'execution_environment', RUN_COLUMN].join(', ');
          expect(rows.map((r) => r.def)).toContainEqual(
            expect.stringMatching(new RegExp(`^CREATE UNIQUE INDEX \\S+ ON ONLY public\\.${table.name} USING btree \\(${key}\\) NULLS NOT DISTINCT WHERE ${table.currentColumn}$`)),
          );
        });
      }

      it('keeps no foreign key to or from another tagged table (references are checked per statement, environment included)', async () => {
        const rows = await q(
          `SELECT c.conname FROM pg_constraint c WHERE c.contype = 'f'
              AND pg_partition_root(c.conrelid) = ANY (SELECT format('public.%I', d.table_name)::regclass FROM precog_environment_tables d)
              AND pg_partition_root(c.confrelid) = ANY (SELECT format('public.%I', d.table_name)::regclass FROM precog_environment_tables d)
              AND (pg_partition_root(c.conrelid) = $1::regclass OR pg_partition_root(c.confrelid) = $1::regclass)`,
          [`public.${ident(table.name)}`],
        );
        expect(rows).toEqual([]);
      });
    });
  }
}
