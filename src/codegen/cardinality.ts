/**
 * How many rows a query returns, from its annotation or, without one, from the statement and
 * the catalog's unique keys:
 * - `one` (exactly one): `INSERT ... VALUES (one row) RETURNING` (or `INSERT ... SELECT` of values
 *   without FROM; with a WHERE, `maybe`) without ON CONFLICT DO NOTHING (or DO UPDATE ... WHERE),
 *   and a SELECT of aggregates without GROUP BY (`count(*)`, `coalesce(sum(x), 0)`: an aggregate
 *   anywhere in the select list, outside a subquery and not a window);
 * - `maybe` (zero or one): a SELECT, UPDATE or DELETE of one table whose WHERE binds every
 *   column of a primary or unique key with `=` (to a parameter or a constant; a partial unique
 *   index counts when its predicate, a boolean column, is a conjunct too), or `LIMIT 1`;
 * - `many` otherwise.
 * `-- @returns one|maybe|many` (or `-- @one`, `-- @maybe`, `-- @many`) overrides the inference.
 */
import { conjuncts, names, type Node, unwrap } from '../parser/pg-ast.js';

export type Cardinality = 'one' | 'maybe' | 'many';

/** A unique key of a table: its columns, and the boolean column a partial index requires. */
export interface UniqueKey {
  columns: string[];
  predicate?: string;
}

/** Table name → its unique keys (primary key included), from the catalog. */
export type UniqueKeys = Map<string, UniqueKey[]>;

const ANNOTATION = /^\s*--\s*@(?:returns\s+)?(one|maybe|many)\b/m;

/** The cardinality a query's block declares, if any. */
export function annotatedCardinality(block: string): Cardinality | undefined {
  return ANNOTATION.exec(block)?.[1] as Cardinality | undefined;
}

const AGGREGATES = new Set([
  'count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'array_agg', 'string_agg',
  'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'stddev', 'variance',
]);

/** Inferred from the statement (libpg-query's AST); `many` whenever in doubt. */
export function inferCardinality(stmt: Node, keys: UniqueKeys): Cardinality {
  const [type, body] = unwrap(stmt);
  if (type === 'InsertStmt') {
    if (!(body.returningClause?.exprs ?? body.returningList)?.length) return 'many';
    const select = body.selectStmt?.SelectStmt;
    const values = select?.valuesLists as Node[] | undefined;
    // INSERT ... SELECT <values> [WHERE ...] with no FROM: one row, or none when the WHERE says so.
    const single = select && !values && !select.fromClause?.length && (!select.op || select.op === 'SETOP_NONE') &&
      !select.groupClause?.length && !hasSetReturning(select.targetList);
    if (values?.length !== 1 && !single) return 'many';
    const conflict = body.onConflictClause;
    if (conflict && (conflict.action === 'ONCONFLICT_NOTHING' || conflict.whereClause)) return 'maybe';
    return single && (select.whereClause || select.havingClause) ? 'maybe' : 'one';
  }
  if (type === 'UpdateStmt' || type === 'DeleteStmt') {
    if (!(body.returningClause?.exprs ?? body.returningList)?.length) return 'many';
    const joined = type === 'UpdateStmt' ? body.fromClause : body.usingClause;
    if (joined?.length) return 'many';
    return keyed(body.relation, body.whereClause, keys) ? 'maybe' : 'many';
  }
  if (type === 'SelectStmt') return selectCardinality(body, keys);
  return 'many';
}

function selectCardinality(select: Node, keys: UniqueKeys): Cardinality {
  if (select.op && select.op !== 'SETOP_NONE') return 'many';
  if (select.valuesLists) return select.valuesLists.length === 1 ? 'one' : 'many';
  const limit = limitOne(select.limitCount);
  const aggregated = !select.groupClause?.length && !select.havingClause &&
    (select.targetList as Node[] | undefined)?.some((target) => isAggregate(target.ResTarget?.val));
  if (aggregated && !hasSetReturning(select.targetList)) return 'one';
  if (!select.fromClause?.length) return hasSetReturning(select.targetList) ? 'many' : 'one';
  if (select.fromClause.length === 1 && unwrap(select.fromClause[0])[0] === 'RangeVar' && !select.groupClause?.length &&
      !hasSetReturning(select.targetList) && keyed(select.fromClause[0].RangeVar, select.whereClause, keys)) {
    return 'maybe';
  }
  return limit ? 'maybe' : 'many';
}

function limitOne(limit: Node | undefined): boolean {
  const [type, body] = unwrap(limit);
  return type === 'A_Const' && body.ival?.ival === 1;
}

/**
 * Does the expression aggregate the query's rows: an aggregate call anywhere in it
 * (`coalesce(sum(x), 0)`, `count(*) - 1`), not as a window and not inside a subquery?
 */
function isAggregate(expr: Node): boolean {
  if (Array.isArray(expr)) return expr.some(isAggregate);
  if (!expr || typeof expr !== 'object') return false;
  const [type, body] = unwrap(expr);
  if (type === 'SubLink') return false;
  if (type === 'FuncCall' && !body.over && AGGREGATES.has(names(body.funcname).at(-1) ?? '')) return true;
  return Object.values(expr as object).some((value) => isAggregate(value as Node));
}

function hasSetReturning(targets: Node[] | undefined): boolean {
  return JSON.stringify(targets ?? []).match(/"sval":"(unnest|generate_series|jsonb_array_elements|json_array_elements|regexp_matches|jsonb_each|json_each)"/) !== null;
}

/** Does the WHERE bind every column of one of the relation's unique keys with `=`? */
function keyed(relation: Node | undefined, where: Node | undefined, keys: UniqueKeys): boolean {
  if (!relation) return false;
  const tableKeys = keys.get(relation.relname as string);
  if (!tableKeys?.length) return false;
  const qualifier = (relation.alias?.aliasname as string | undefined) ?? (relation.relname as string);
  const bound = new Set<string>();
  const flags = new Set<string>();
  const column = (expr: Node): string | undefined => {
    const [type, body] = unwrap(expr);
    if (type === 'TypeCast') return column(body.arg);
    if (type !== 'ColumnRef') return undefined;
    const parts = names(body.fields);
    if (parts.length === 1) return parts[0];
    if (parts.length === 2 && parts[0] === qualifier) return parts[1];
    return undefined;
  };
  const value = (expr: Node): boolean => {
    const [type, body] = unwrap(expr);
    if (type === 'TypeCast') return value(body.arg);
    return type === 'ParamRef' || type === 'A_Const';
  };
  for (const conjunct of conjuncts(where)) {
    const [type, body] = unwrap(conjunct);
    if (type === 'ColumnRef') {
      const name = column(conjunct);
      if (name) flags.add(name);
      continue;
    }
    if (type === 'A_Expr' && body.kind === 'AEXPR_OP' && names(body.name).join('.') === '=') {
      const left = column(body.lexpr);
      const right = column(body.rexpr);
      if (left && value(body.rexpr)) bound.add(left);
      if (right && value(body.lexpr)) bound.add(right);
      if (left && unwrap(body.rexpr)[1]?.boolval?.boolval === true) flags.add(left);
      // A row comparison: (id, execution_environment) = (:id!, :execution_environment!)
      rowComparison(conjunct, column, value, bound);
    }
  }
  return tableKeys.some((key) => key.columns.every((name) => bound.has(name)) && (!key.predicate || flags.has(key.predicate)));
}

function rowComparison(expr: Node, column: (expr: Node) => string | undefined, value: (expr: Node) => boolean, bound: Set<string>): void {
  const [type, body] = unwrap(expr);
  if (type !== 'A_Expr' || body.kind !== 'AEXPR_OP' || names(body.name).join('.') !== '=') return;
  const [leftType, left] = unwrap(body.lexpr);
  const [rightType, right] = unwrap(body.rexpr);
  if (leftType !== 'RowExpr' || rightType !== 'RowExpr' || left.args.length !== right.args.length) return;
  left.args.forEach((item: Node, index: number) => {
    const name = column(item);
    if (name && value(right.args[index])) bound.add(name);
  });
}
