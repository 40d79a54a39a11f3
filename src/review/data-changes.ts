/**
 * Data changes inside migrations: an UPDATE, DELETE or INSERT ... SELECT on an environment-tagged
 * table (or one of its partitions) rewrites history on every database the migration reaches, and
 * the scratch databases of the review are empty, so running the migration proves nothing about
 * it. Each is blocking unless its statement is preceded by `-- data-change: <reason>`; a write
 * to execution_environment is blocking whatever the reason (no row changes environment), and a
 * backfill UPDATE of an append-only table is named as what it is: the guards refuse it on real data.
 */
import { lineAt, parseStatements, sliceBytes, unwrap, type Node } from '../parser/pg-ast.js';
import type { SourceFile } from '../lint/migration-rules.js';
import type { Declaration } from './guarantees.js';
import { type Point, point } from './point.js';

export const DATA_CHANGE_MARKER = /--\s*data-change:[ \t]*(\S.*)$/m;

export function dataChangePoints(files: SourceFile[], registry: Declaration[], environments: string[]): Point[] {
  const points: Point[] = [];
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
    for (const { stmt, start, end } of statements) {
      const text = sliceBytes(file.text, previousEnd, end);
      previousEnd = end;
      const marker = DATA_CHANGE_MARKER.exec(text)?.[1]?.trim();
      const where = `${file.path}:${lineAt(file.text, start + (text.length - text.trimStart().length))}`;
      for (const write of writesOf(stmt, text)) {
        const table = rootOf(write.table);
        if (!table) continue;
        const kind = kinds.get(table)!;
        if (write.setsEnvironment) {
          points.push(point('data/environment-rewritten', where,
            `${write.verb} rewrites ${write.table}.execution_environment of existing rows: rows move between environments (simulated positions become real-money ones, #662), and the [environment-immutable] guard refuses it on any database with rows`,
            'never move rows between environments: write new rows in the right environment, and leave history as it was recorded'));
          continue;
        }
        if (write.verb === 'UPDATE' && kind === 'append_only') {
          points.push(point('data/append-only-backfill', where,
            `UPDATE of ${write.table} (append-only) in a migration: it passes on the empty review database, and the [append-only] guard refuses it on every database with rows, so the migration fails in production`,
            `give a new column its value with a DEFAULT (or keep it nullable), or record correcting rows; an append-only table is never backfilled in place`));
          continue;
        }
        if (marker) continue;
        points.push(point('data/data-change', where,
          `${write.verb} on ${write.table} (environment-tagged, ${kind}) in a migration: it changes recorded ${table} rows of every environment, and the review's empty databases cannot show what it does`,
          `say why on the line before it: \`-- data-change: <reason>\` (and which environments it touches), or move it out of the migration`));
      }
    }
  }
  return points;
}

interface Write { verb: 'UPDATE' | 'DELETE' | 'INSERT ... SELECT'; table: string; setsEnvironment: boolean }

function writesOf(stmt: Node, text: string): Write[] {
  const [type, body] = unwrap(stmt);
  if (type === 'UpdateStmt') {
    const targets = (body.targetList ?? []).map((t: Node) => t.ResTarget?.name);
    return [{ verb: 'UPDATE', table: body.relation.relname, setsEnvironment: targets.includes('execution_environment') }];
  }
  if (type === 'DeleteStmt') return [{ verb: 'DELETE', table: body.relation.relname, setsEnvironment: false }];
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
      writes.push({ verb, table: m[2]!.replace(/"/g, ''), setsEnvironment: verb === 'UPDATE' && /\bSET\b[\s\S]*\bexecution_environment\s*=/i.test(m[3]!) });
    }
    return writes;
  }
  return [];
}
