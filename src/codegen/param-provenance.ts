/**
 * Which table column each parameter of a query stands for, so codegen can brand it like the
 * column (`:id` compared with positions.id is a position id).
 *
 * An interim adapter with the output shape of environment-binding's coming `analyseQuery(...).paramColumns`;
 * once that exists, this module is replaced by one import. It recognises what our sql/ writes:
 * - `column = :param`, `column = ANY(:params)` and `column IN (:param)` in any WHERE, JOIN ... ON
 *   or HAVING, the column qualified by an alias or unqualified with one table in scope;
 * - `INSERT INTO t (columns) VALUES (...)` and `INSERT ... SELECT`, a value being the parameter,
 *   or a column of `unnest(:a, :b, ...) AS alias (columns)` (a bulk insert's arrays);
 * - `UPDATE t SET column = :param`.
 * A value is followed to the parameters it may be: through casts, `coalesce(:a, column)`,
 * `NULLIF(:a, x)`, `greatest`/`least`, each result of a `CASE`, and the elements of
 * `ARRAY[:a, :b]` (for `= ANY(...)`), so `SET order_id = coalesce(:order_id, order_id)` brands
 * `:order_id` as the column it lands in. Anything else yields no provenance, so no brand: the
 * parameter stays its plain type, which is safe (only ids are branded, never an unrelated value).
 */
import { ctes, names, type Node, unwrap } from '../parser/pg-ast.js';

export interface ColumnRef {
  /** The relation as the query names it (a partition or view name is resolved by the model). */
  table: string;
  column: string;
}

/**
 * What a FROM item binds an alias to: a table, the columns of an unnest over parameters, or
 * something whose columns are not traced (a CTE, a subquery, another function). The last still
 * counts as a source, so an unqualified column next to it is ambiguous, not the table's.
 */
type Source = { table: string } | { unnest: (string | undefined)[]; columns: string[] } | { opaque: true };

interface Scope {
  sources: Map<string, Source>;
  parent: Scope | undefined;
  /** CTE names in scope: a FROM item naming one is not a table. */
  ctes: Set<string>;
}

const STATEMENTS = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt']);

/** Parameter name → the columns it is compared with or written to. */
export function paramColumns(stmt: Node, paramNames: Map<number, string>): Map<string, ColumnRef[]> {
  const found = new Map<string, ColumnRef[]>();
  const add = (param: string | undefined, ref: ColumnRef | undefined) => {
    if (!param || !ref) return;
    const list = found.get(param) ?? [];
    if (!list.some((known) => known.table === ref.table && known.column === ref.column)) list.push(ref);
    found.set(param, list);
  };
  /** The parameters a value may be (what it lands in, when written or compared). */
  const paramsOf = (expr: Node): string[] => {
    const [type, e] = unwrap(expr);
    if (!e) return [];
    if (type === 'TypeCast') return paramsOf(e.arg);
    if (type === 'ParamRef') return paramNames.has(e.number) ? [paramNames.get(e.number)!] : [];
    if (type === 'CoalesceExpr' || type === 'MinMaxExpr') return ((e.args ?? []) as Node[]).flatMap(paramsOf);
    // NULLIF(a, b) is a or null.
    if (type === 'A_Expr' && e.kind === 'AEXPR_NULLIF') return paramsOf(e.lexpr);
    if (type === 'CaseExpr') return [...((e.args ?? []) as Node[]).flatMap((when) => paramsOf(when.CaseWhen.result)), ...(e.defresult ? paramsOf(e.defresult) : [])];
    if (type === 'A_ArrayExpr') return ((e.elements ?? []) as Node[]).flatMap(paramsOf);
    return [];
  };
  const addAll = (expr: Node, ref: ColumnRef | undefined) => {
    for (const param of paramsOf(expr)) add(param, ref);
  };

  const unnestParam = (expr: Node, scope: Scope): string | undefined => {
    const number = unnestParamNumber(expr, scope);
    return number === undefined ? undefined : paramNames.get(number);
  };

  const statement = (node: Node, parent: Scope | undefined, known: Set<string>): void => {
    const [type, s] = unwrap(node);
    if (!s) return;
    const visible = new Set(known);
    for (const [name] of ctes(s.withClause)) visible.add(name);
    for (const [, query] of ctes(s.withClause)) statement(query, parent, visible);
    const scope: Scope = { sources: new Map(), parent, ctes: visible };
    if (type === 'SelectStmt' && s.op && s.op !== 'SETOP_NONE') {
      statement(s.larg, parent, visible);
      statement(s.rarg, parent, visible);
      return;
    }
    if (s.relation) addRangeVar(scope, s.relation);
    for (const item of [...(s.fromClause ?? []), ...(s.usingClause ?? [])]) addFrom(scope, item);
    if (type === 'InsertStmt') insert(s, scope);
    if (type === 'UpdateStmt') {
      const table = tableOf(scope, s.relation);
      for (const target of s.targetList ?? []) if (table) addAll(target.ResTarget.val, { table, column: target.ResTarget.name });
    }
    // Comparisons anywhere in this statement's own clauses; nested statements get their own scope.
    const { withClause: _, selectStmt: __, ...clauses } = s;
    visit(clauses, scope);
  };

  const insert = (s: Node, scope: Scope) => {
    const table = tableOf(scope, s.relation);
    const columns = ((s.cols ?? []) as Node[]).map((col) => col.ResTarget.name as string);
    const [, select] = unwrap(s.selectStmt);
    if (!table || !select) return statement(s.selectStmt, scope.parent, scope.ctes);
    if (select.valuesLists) {
      for (const row of select.valuesLists as Node[]) {
        (row.List.items as Node[]).forEach((item, i) => columns[i] && addAll(item, { table, column: columns[i] }));
      }
    } else {
      // INSERT ... SELECT: a target that is a parameter, or a column of an unnest of parameters.
      const selectScope: Scope = { sources: new Map(), parent: scope.parent, ctes: scope.ctes };
      for (const item of select.fromClause ?? []) addFrom(selectScope, item);
      ((select.targetList ?? []) as Node[]).forEach((target, i) => {
        if (!columns[i]) return;
        const val = target.ResTarget.val;
        const params = paramsOf(val);
        if (params.length) addAll(val, { table, column: columns[i] });
        else add(unnestParam(val, selectScope), { table, column: columns[i] });
      });
    }
    statement(s.selectStmt, scope.parent, scope.ctes);
  };

  const visit = (node: Node, scope: Scope): void => {
    if (Array.isArray(node)) return node.forEach((item) => visit(item, scope));
    if (!node || typeof node !== 'object') return;
    const [type, e] = unwrap(node);
    if (STATEMENTS.has(type)) return statement(node, scope, scope.ctes);
    if (type === 'A_Expr') comparison(e, scope);
    if (type === 'CaseExpr') caseComparison(e, scope);
    // FROM items were bound already; their subqueries and functions are still walked for comparisons.
    for (const value of Object.values(node)) visit(value, scope);
  };

  const comparison = (e: Node, scope: Scope) => {
    // NULLIF(column, :param) compares the two as = does.
    const equality =
      e.kind === 'AEXPR_NULLIF' || (names(e.name)[0] === '=' && ['AEXPR_OP', 'AEXPR_OP_ANY', 'AEXPR_IN', 'AEXPR_NOT_DISTINCT'].includes(e.kind));
    if (!equality) return;
    // IN (a, b) is a list on the right.
    const sides = [e.lexpr, ...((e.rexpr?.List?.items as Node[] | undefined) ?? [e.rexpr])];
    const column = sides.map((side) => valueColumn(side, scope)).find(Boolean);
    if (column) for (const side of sides) addAll(side, column);
  };

  /** `CASE column WHEN :a THEN ...`: each WHEN value is compared with the column. */
  const caseComparison = (e: Node, scope: Scope) => {
    const column = e.arg ? valueColumn(e.arg, scope) : undefined;
    if (column) for (const when of (e.args ?? []) as Node[]) addAll(when.CaseWhen.expr, column);
  };

  statement(stmt, undefined, new Set());
  return found;
}

function addFrom(scope: Scope, item: Node): void {
  const [type, f] = unwrap(item);
  if (type === 'RangeVar') addRangeVar(scope, f);
  if (type === 'JoinExpr') {
    addFrom(scope, f.larg);
    addFrom(scope, f.rarg);
  }
  if (type === 'RangeFunction') {
    const [call] = (f.functions?.[0]?.List?.items ?? []) as Node[];
    const [callType, fn] = unwrap(call);
    const alias = f.alias?.aliasname ?? (callType === 'FuncCall' ? names(fn.funcname).at(-1) : undefined) ?? '?function';
    const unnest = callType === 'FuncCall' && names(fn.funcname).at(-1) === 'unnest' && f.alias?.colnames;
    scope.sources.set(
      alias,
      unnest ? { unnest: ((fn.args ?? []) as Node[]).map(paramIndexName), columns: names(f.alias.colnames) } : { opaque: true },
    );
  }
  if (type === 'RangeSubselect') scope.sources.set(f.alias?.aliasname ?? '?subquery', { opaque: true });
}

/** A placeholder for the parameter number of an unnest argument, resolved by unnestParam. */
function paramIndexName(arg: Node): string | undefined {
  const [type, e] = unwrap(arg);
  if (type === 'TypeCast') return paramIndexName(e.arg);
  return type === 'ParamRef' ? String(e.number) : undefined;
}

function addRangeVar(scope: Scope, rangeVar: Node): void {
  const cte = !rangeVar.schemaname && scope.ctes.has(rangeVar.relname);
  scope.sources.set(rangeVar.alias?.aliasname ?? rangeVar.relname, cte ? { opaque: true } : { table: rangeVar.relname });
}

function tableOf(scope: Scope, rangeVar: Node | undefined): string | undefined {
  if (!rangeVar || (!rangeVar.schemaname && scope.ctes.has(rangeVar.relname))) return undefined;
  return rangeVar.relname;
}

/** The table column a value stands for: the column itself, or `coalesce(column, ...)` of it (through casts). */
function valueColumn(expr: Node, scope: Scope): ColumnRef | undefined {
  const [type, e] = unwrap(expr);
  if (type === 'TypeCast') return valueColumn(e.arg, scope);
  if (type === 'CoalesceExpr') {
    const columns = ((e.args ?? []) as Node[]).map((arg) => columnRef(arg, scope)).filter(Boolean) as ColumnRef[];
    const [first] = columns;
    return first && columns.every((column) => column.table === first.table && column.column === first.column) ? first : undefined;
  }
  return columnRef(expr, scope);
}

/** A table column the expression is, through casts: qualified by an alias, or the only table in scope. */
function columnRef(expr: Node, scope: Scope): ColumnRef | undefined {
  const [type, e] = unwrap(expr);
  if (type === 'TypeCast') return columnRef(e.arg, scope);
  if (type !== 'ColumnRef') return undefined;
  const path = names(e.fields);
  const column = path.at(-1)!;
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const tables = [...s.sources.values()].filter((source): source is { table: string } => 'table' in source);
    const source = path.length >= 2 ? s.sources.get(path.at(-2)!) : s.sources.size === 1 ? tables[0] : undefined;
    if (source && 'table' in source) return { table: source.table, column };
    if (path.length >= 2 ? s.sources.has(path.at(-2)!) : s.sources.size > 0) return undefined;
  }
  return undefined;
}

/** `alias.column` of an `unnest(:a, :b) AS alias (x, y)`: the name of the parameter behind it. */
function unnestParamNumber(expr: Node, scope: Scope): number | undefined {
  const [type, e] = unwrap(expr);
  if (type === 'TypeCast') return unnestParamNumber(e.arg, scope);
  if (type !== 'ColumnRef') return undefined;
  const path = names(e.fields);
  const source = path.length >= 2 ? scope.sources.get(path.at(-2)!) : [...scope.sources.values()].find((s) => 'unnest' in s);
  if (!source || !('unnest' in source)) return undefined;
  const index = source.columns.indexOf(path.at(-1)!);
  const number = index < 0 ? undefined : source.unnest[index];
  return number === undefined ? undefined : Number(number);
}

const SAME_VALUE_AGGREGATES = new Set(['array_agg', 'min', 'max', 'any_value']);

/**
 * For each result column of a SELECT (or RETURNING), the table column whose values it carries
 * when it is not that column itself (the server reports those): `array_agg(t.position_id)`,
 * `min(...)`/`max(...)` of a column, a cast of one, `coalesce(a.x, b.x)` of one column. So an
 * aggregated id keeps its brand. Undefined where the value could be anything else.
 */
export function resultColumns(stmt: Node): (ColumnRef | undefined)[] {
  const [type, s] = unwrap(stmt);
  if (!s || (type === 'SelectStmt' && s.op && s.op !== 'SETOP_NONE')) return [];
  const visible = new Set<string>(ctes(s.withClause).map(([name]) => name));
  const scope: Scope = { sources: new Map(), parent: undefined, ctes: visible };
  if (s.relation) addRangeVar(scope, s.relation);
  for (const item of [...(s.fromClause ?? []), ...(s.usingClause ?? [])]) addFrom(scope, item);
  const targets = (type === 'SelectStmt' ? s.targetList : (s.returningClause?.exprs ?? s.returningList)) as Node[] | undefined;
  // `*` expands to columns this list does not show: positions would not line up.
  if (JSON.stringify(targets ?? []).includes('"A_Star"')) return [];
  const carried = (expr: Node): ColumnRef | undefined => {
    const [kind, e] = unwrap(expr);
    if (kind === 'TypeCast') return carried(e.arg);
    if (kind === 'CoalesceExpr') return valueColumn(expr, scope) && ((e.args ?? []) as Node[]).every((arg) => columnRef(arg, scope)) ? valueColumn(expr, scope) : undefined;
    if (kind === 'FuncCall' && !e.over && e.args?.length === 1 && SAME_VALUE_AGGREGATES.has(names(e.funcname).at(-1) ?? '')) return columnRef(e.args[0], scope);
    return undefined;
  };
  return (targets ?? []).map((target) => carried(target.ResTarget?.val));
}
