/**
 * Data changes inside migrations: an UPDATE, DELETE or INSERT ... SELECT on an environment-tagged
 * table (or one of its partitions) rewrites history on every database the migration reaches, and
 * the scratch databases of the review are empty, so running the migration proves nothing about
 * it. Each is blocking unless its statement is preceded by `-- data-change: <reason>`; an UPDATE
 * or DELETE that reaches live rows (not limited to paper or backtest by its WHERE or its partition)
 * is blocking whatever the reason (live history is never rewritten); a write
 * to execution_environment is blocking whatever the reason (no row changes environment), and a
 * backfill UPDATE of an append-only table is named as what it is: the guards refuse it on real data.
 */
import { conjuncts, constantString, lineAt, names, parseStatements, sliceBytes, unwrap, type Node } from '../parser/pg-ast.js';
import type { SourceFile } from '../lint/migration-rules.js';
import type { Declaration } from './catalog-audit.js';
import { type Finding, finding } from '../lint/finding.js';

export const DATA_CHANGE_MARKER = /--\s*data-change:[ \t]*(\S.*)$/m;
/** `-- maintenance-window: <when>` before a statement that locks a tagged table for long: planned outside market hours. */
export const MAINTENANCE_MARKER = /--\s*maintenance-window:[ \t]*(\S.*)$/m;

export function dataChangePoints(files: SourceFile[], registry: Declaration[], environments: string[]): Finding[] {
  const points: Finding[] = [];
  const kinds = new Map(registry.map((d) => [d.table_name, d.kind]));
  const rootOf = (name: string): string | undefined => {
    if (kinds.has(name)) return name;
    for (const suffix of [...environments, 'environment_missing']) {
      if (name.endsWith(`_${suffix}`) && kinds.has(name.slice(0, -suffix.length - 1))) return name.slice(0, -suffix.length - 1);
    }
    return undefined;
  };
  for (const file of files) {
    let statements;
    try {
      statements = parseStatements(file.text);
    } catch {
      continue; // the migration does not parse: applying it fails, and that is reported
    }
    let previousEnd = 0;
    const created = new Set<string>();
    for (const { stmt, start, end } of statements) {
      const text = sliceBytes(file.text, previousEnd, end);
      previousEnd = end;
      const marker = DATA_CHANGE_MARKER.exec(text)?.[1]?.trim();
      const where = `${file.path}:${lineAt(file.text, start + (text.length - text.trimStart().length))}`;
      const [stmtType, stmtBody] = unwrap(stmt);
      if (stmtType === 'CreateStmt') created.add(stmtBody.relation.relname);
      // Long locks on a live table: blocking unless planned for a maintenance window. A table the
      // same migration creates holds no rows yet.
      const lock = longLock(stmt);
      const locked = lock && rootOf(lock.table);
      if (lock && locked && !created.has(locked) && !created.has(lock.table) && !MAINTENANCE_MARKER.test(text)) {
        points.push(finding('data/long-lock', where,
          `${lock.what} on ${lock.table} (environment-tagged: live trading writes it): ${lock.lock} for as long as it takes on production-sized data, so order and fill writes wait (or time out) during market hours; the empty review database shows none of it`,
          `${lock.instead}, or plan it for a maintenance window and say when on the line before it: \`-- maintenance-window: <when, and who watches it>\``));
      }
      for (const write of writesOf(stmt, text)) {
        const table = rootOf(write.table);
        if (!table) continue;
        const kind = kinds.get(table)!;
        if (write.setsEnvironment) {
          points.push(finding('data/environment-rewritten', where,
            `${write.verb} rewrites ${write.table}.execution_environment of existing rows: rows move between environments (simulated positions become real-money ones, #662), and the [environment-immutable] guard refuses it on any database with rows`,
            'never move rows between environments: write new rows in the right environment, and leave history as it was recorded'));
          continue;
        }
        if (write.verb === 'UPDATE' && kind === 'append_only') {
          points.push(finding('data/append-only-backfill', where,
            `UPDATE of ${write.table} (append-only) in a migration: it passes on the empty review database, and the [append-only] guard refuses it on every database with rows, so the migration fails in production`,
            `give a new column its value with a DEFAULT (or keep it nullable), or record correcting rows; an append-only table is never backfilled in place`));
          continue;
        }
        // Live history is what happened with real money: no marker makes rewriting it acceptable.
        const touched = write.environments ?? (write.table !== table ? [write.table.slice(table.length + 1)] : undefined);
        if (write.verb !== 'INSERT ... SELECT' && (!touched || touched.includes('live'))) {
          points.push(finding('data/live-history-rewritten', where,
            `${write.verb} on ${write.table} ${touched ? 'touches its live rows' : 'is not limited to paper or backtest rows (no execution_environment condition)'}: it ${write.verb === 'DELETE' ? 'deletes' : 'rewrites'} live ${table} history on production${marker ? ', and a `-- data-change:` reason does not make that acceptable' : ''}`,
            `limit it to the environments it means (\`WHERE execution_environment IN ('paper', 'backtest')\`, or the partition ${table}_paper); a live correction is a new row (a correcting entry, a new version), never an edit of recorded history`));
          continue;
        }
        if (marker) continue;
        points.push(finding('data/data-change', where,
          `${write.verb} on ${write.table} (environment-tagged, ${kind}) in a migration: it changes recorded ${table} rows of every environment, and the review's empty databases cannot show what it does`,
          `say why on the line before it: \`-- data-change: <reason>\` (and which environments it touches), or move it out of the migration`));
      }
    }
  }
  return points;
}

/** A statement that holds a strong lock for as long as the table is big. */
function longLock(stmt: Node): { table: string; what: string; lock: string; instead: string } | undefined {
  const [type, body] = unwrap(stmt);
  if (type === 'IndexStmt' && !body.concurrent) {
    return { table: body.relation.relname, what: `CREATE INDEX${body.idxname ? ` ${body.idxname}` : ''} without CONCURRENTLY`, lock: 'it blocks every INSERT, UPDATE and DELETE (SHARE lock) while the index builds', instead: 'CREATE INDEX CONCURRENTLY (in a migration of its own, `--! no-transaction`)' };
  }
  if (type === 'AlterTableStmt') {
    const retyped = (body.cmds as Node[] ?? []).map((c) => unwrap(c)[1]).find((c) => c?.subtype === 'AT_AlterColumnType');
    if (retyped) {
      return { table: body.relation.relname, what: `ALTER COLUMN ${retyped.name} TYPE`, lock: 'it rewrites the table (and its indexes) under an ACCESS EXCLUSIVE lock, blocking reads and writes', instead: 'add a new column, backfill it in batches outside the migration, then switch over' };
    }
  }
  return undefined;
}

interface Write {
  verb: 'UPDATE' | 'DELETE' | 'INSERT ... SELECT';
  table: string;
  setsEnvironment: boolean;
  /** The environments its WHERE limits it to (`execution_environment = 'paper'`, `IN (...)`), when it does. */
  environments?: string[];
}

/** `execution_environment = 'x'` or `IN ('x', 'y')` among the conjuncts of a WHERE. */
function environmentsOf(where: Node | undefined): string[] | undefined {
  for (const conjunct of conjuncts(where)) {
    const [type, body] = unwrap(conjunct);
    if (type !== 'A_Expr') continue;
    const column = unwrap(body.lexpr)[0] === 'ColumnRef' ? names(unwrap(body.lexpr)[1].fields).at(-1) : undefined;
    if (column !== 'execution_environment') continue;
    const name = names(body.name)[0];
    if (body.kind === 'AEXPR_OP' && name === '=') {
      const value = constantString(body.rexpr);
      if (value) return [value];
    }
    if (body.kind === 'AEXPR_IN' && name === '=') {
      const values = (unwrap(body.rexpr)[0] === 'List' ? unwrap(body.rexpr)[1].items : body.rexpr) as Node[];
      const strings = (Array.isArray(values) ? values : []).map(constantString);
      if (strings.length && strings.every(Boolean)) return strings as string[];
    }
  }
  return undefined;
}

function writesOf(stmt: Node, text: string): Write[] {
  const [type, body] = unwrap(stmt);
  if (type === 'UpdateStmt') {
    const targets = (body.targetList ?? []).map((t: Node) => t.ResTarget?.name);
    return [{ verb: 'UPDATE', table: body.relation.relname, setsEnvironment: targets.includes('execution_environment'), environments: environmentsOf(body.whereClause) }];
  }
  if (type === 'DeleteStmt') return [{ verb: 'DELETE', table: body.relation.relname, setsEnvironment: false, environments: environmentsOf(body.whereClause) }];
  if (type === 'InsertStmt') {
    const select = body.selectStmt?.SelectStmt;
    return select && !select.valuesLists ? [{ verb: 'INSERT ... SELECT', table: body.relation.relname, setsEnvironment: false }] : [];
  }
  if (type === 'DoStmt') {
    // PL/pgSQL bodies are not parsed here: their writes are found by their shape.
    const writes: Write[] = [];
    for (const m of text.matchAll(/\b(UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+(?:ONLY\s+)?(?:public\.)?("?[a-z_][a-z0-9_]*"?)([^;]*)/gi)) {
      const verb = m[1]!.toUpperCase().startsWith('UPDATE') ? 'UPDATE' : m[1]!.toUpperCase().startsWith('DELETE') ? 'DELETE' : 'INSERT ... SELECT';
      if (verb === 'INSERT ... SELECT' && !/\bSELECT\b/i.test(m[3]!)) continue;
      const limited = /\bWHERE\b[\s\S]*\bexecution_environment\s*(?:=\s*'(\w+)'|IN\s*\(([^)]*)\))/i.exec(m[3]!);
      const environments = limited ? (limited[1] ? [limited[1]] : [...limited[2]!.matchAll(/'(\w+)'/g)].map((v) => v[1]!)) : undefined;
      writes.push({ verb, table: m[2]!.replace(/"/g, ''), setsEnvironment: verb === 'UPDATE' && /\bSET\b[\s\S]*\bexecution_environment\s*=/i.test(m[3]!), ...(environments && { environments }) });
    }
    return writes;
  }
  return [];
}
