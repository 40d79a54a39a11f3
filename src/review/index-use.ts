/**
 * Which index a query relies on, judged by its predicates against the index's columns rather than
 * by a plan: the review's databases are empty, and on an empty table the planner picks whatever
 * index is cheapest to open, not the one production uses. A query can use an index when its
 * WHERE/JOIN conditions constrain the index's leading columns (then its ORDER BY follows the next
 * ones); the index serves it by that many columns. On a table partitioned by execution_environment
 * an environment column selects nothing within its partition, so it is passed over, never counted.
 *
 * What it cannot judge: selectivity (an index on a boolean counts as one on an id), expression
 * indexes, and which of two equally good indexes production picks.
 */
import type pg from 'pg';
import { type Node, parseStatements, unwrap } from '../parser/pg-ast.js';

type Client = Pick<pg.ClientBase, 'query'>;

export interface IndexInfo {
  name: string;
  table: string;
  /** Key columns in order; null for an expression. */
  keys: (string | null)[];
  /** Columns the partial index's predicate names (the query must constrain them too). */
  predicate: string[];
}

/** Columns a query constrains and orders by, per table it reads (views resolved to their tables). */
export interface Use {
  constrained: Set<string>;
  ordered: string[];
}

/** Columns that select nothing within a partition of a tagged table. */
const UNSELECTIVE = new Set(['execution_environment', 'backtest_run_id']);

export async function readIndexes(client: Client): Promise<IndexInfo[]> {
  const { rows } = await client.query<{ name: string; table: string; keys: (string | null)[]; predicate: string | null; columns: string[] }>(`
      SELECT i.relname AS name, t.relname AS table,
             ARRAY(SELECT CASE WHEN k.n = 0 THEN NULL ELSE (SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attnum = k.n) END
                     FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o) WHERE k.o <= x.indnkeyatts ORDER BY k.o) AS keys,
             pg_get_expr(x.indpred, x.indrelid) AS predicate,
             ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
       WHERE t.relnamespace = 'public'::regnamespace AND NOT t.relispartition ORDER BY 1`);
  return rows.map((r) => ({
    name: r.name, table: r.table, keys: r.keys,
    predicate: r.predicate ? r.columns.filter((c) => new RegExp(`\\b${c}\\b`).test(r.predicate!)) : [],
  }));
}

/**
 * How well `index` serves `use` (0: the query cannot use it): a column its conditions constrain
 * outweighs any number it orders by (reading a market's trades then sorting them beats reading
 * every trade in time order to find them).
 */
export function serves(index: IndexInfo, use: Use | undefined): { score: number; columns: string[] } {
  const none = { score: 0, columns: [] };
  if (!use || index.predicate.some((c) => !use.constrained.has(c))) return none;
  let score = 0;
  let at = 0;
  const columns: string[] = [];
  for (; at < index.keys.length; at++) {
    const key = index.keys[at];
    if (!key || !use.constrained.has(key)) break;
    if (!UNSELECTIVE.has(key)) {
      score += 100;
      columns.push(key);
    }
  }
  for (let o = 0; at < index.keys.length && o < use.ordered.length; at++, o++) {
    if (index.keys[at] !== use.ordered[o]) break;
    score++;
    columns.push(`${use.ordered[o]} (ORDER BY)`);
  }
  return score ? { score, columns } : none;
}

/**
 * Per table a query reads: the columns its conditions constrain (compared, IN, IS NULL, a boolean
 * column alone) and its ORDER BY columns. `columnsOf` gives each relation's columns (to place an
 * unqualified column) and `tablesOf` a view's tables (a view's columns are its table's names).
 */
export function predicateUse(sql: string, columnsOf: Map<string, Set<string>>, tablesOf: Map<string, string[]>): Map<string, Use> {
  let statements;
  try {
    statements = parseStatements(sql);
  } catch {
    return new Map();
  }
  const aliases = new Map<string, string>();
  const refs: { fields: string[]; kind: 'constrained' | 'ordered' }[] = [];
  const columnRef = (node: Node): string[] | undefined => {
    const [type, body] = unwrap(node);
    if (type === 'TypeCast') return columnRef(body.arg);
    if (type !== 'ColumnRef') return undefined;
    const fields = (body.fields as Node[]).map((f) => f.String?.sval as string | undefined);
    return fields.every(Boolean) ? (fields as string[]) : undefined;
  };
  const visit = (node: Node): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node) as [string, Node][]) {
      if (key === 'RangeVar') aliases.set(value.alias?.aliasname ?? value.relname, value.relname);
      if (key === 'A_Expr' || key === 'NullTest' || key === 'BooleanTest') {
        for (const side of key === 'A_Expr' ? [value.lexpr, value.rexpr] : [value.arg]) {
          const fields = columnRef(side);
          if (fields) refs.push({ fields, kind: 'constrained' });
        }
      }
      if (key === 'SubLink' && value.testexpr) {
        const fields = columnRef(value.testexpr);
        if (fields) refs.push({ fields, kind: 'constrained' });
      }
      if (key === 'BoolExpr' && value.boolop === 'AND_EXPR') {
        for (const arg of value.args as Node[]) {
          const fields = columnRef(arg);
          if (fields) refs.push({ fields, kind: 'constrained' });
        }
      }
      if ((key === 'whereClause' || key === 'quals') && columnRef(value)) refs.push({ fields: columnRef(value)!, kind: 'constrained' });
      if (key === 'SortBy') {
        const fields = columnRef(value.node);
        if (fields) refs.push({ fields, kind: 'ordered' });
      }
      visit(value);
    }
  };
  for (const { stmt } of statements) visit(stmt);

  const uses = new Map<string, Use>();
  const useOf = (table: string) => {
    if (!uses.has(table)) uses.set(table, { constrained: new Set(), ordered: [] });
    return uses.get(table)!;
  };
  const relations = [...new Set(aliases.values())];
  for (const ref of refs) {
    const column = ref.fields.at(-1)!;
    const owners = ref.fields.length > 1
      ? [aliases.get(ref.fields.at(-2)!)].filter((t): t is string => Boolean(t))
      : relations.filter((r) => columnsOf.get(r)?.has(column));
    for (const owner of owners) {
      for (const table of tablesOf.get(owner) ?? [owner]) {
        const use = useOf(table);
        if (ref.kind === 'constrained') use.constrained.add(column);
        else use.ordered.push(column);
      }
    }
  }
  return uses;
}

/** Each relation's columns, and each view's tables (through views), of the database. */
export async function readRelations(client: Client): Promise<{ columnsOf: Map<string, Set<string>>; tablesOf: Map<string, string[]> }> {
  const { rows } = await client.query<{ name: string; columns: string[]; tables: string[] }>(`
      SELECT c.relname AS name,
             ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
             ARRAY(SELECT DISTINCT t.relname::text FROM pg_rewrite w JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                     JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p')
                    WHERE w.ev_class = c.oid AND d.refobjid <> c.oid) AS tables
        FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition`);
  return {
    columnsOf: new Map(rows.map((r) => [r.name, new Set(r.columns)])),
    tablesOf: new Map(rows.filter((r) => r.tables.length).map((r) => [r.name, r.tables])),
  };
}
