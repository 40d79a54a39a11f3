/**
 * Which result columns can be null, inferred from the statement (libpg-query's AST) and the
 * catalog, where PostgreSQL's column metadata (what pgtyped uses) says too little or is wrong:
 * - a column of the nullable side of an outer join (`LEFT`, `RIGHT`, `FULL`, `LEFT JOIN LATERAL`)
 *   is nullable, whatever its NOT NULL;
 * - a column of a view, subquery or CTE is traced to the expression that defines it;
 * - literals, `count(*)`, `EXISTS`, `IS NULL`, `ARRAY[...]`, `now()` are never null; operators
 *   and casts of non-null operands are not; `COALESCE`/`GREATEST`/`LEAST` with one non-null
 *   argument are not; `CASE` is not when every branch and the ELSE are not; a required
 *   parameter (`:x!`) is not; a window aggregate over a frame holding the current row is not
 *   null when its argument is not;
 * - in a query with GROUP BY, an aggregate of a non-null argument is not null (every group has a
 *   row); without it, aggregates other than count (`sum` over no rows), scalar subqueries and
 *   optional parameters are nullable; `unnest(enum_range(...))` is not.
 * Each result is `true` (never null), `false` (may be null) or `undefined` (not known: the
 * column metadata decides). Aliases `"x!"` / `"x?"` still override it.
 */
import { names, type Node, parseStatements, unwrap } from '../parser/pg-ast.js';

export type NonNull = boolean | undefined;

/** A result column: its name, whether it is never null, and (an array) whether its elements never are. */
type Column = [name: string, nonNull: NonNull, elementsNonNull?: NonNull];

export interface RelationColumns {
  /** Column name → NOT NULL. */
  columns: Map<string, boolean>;
  /** A view's defining SELECT, traced instead of its (always nullable) column metadata. */
  definition?: string;
}

/** Relation name (public schema) → its columns. */
export type Relations = Map<string, RelationColumns>;

interface Source {
  name: string;
  columns: Map<string, NonNull>;
  /** On the nullable side of an outer join. */
  nullable: boolean;
}

interface Scope {
  sources: Source[];
  /** Columns merged by JOIN ... USING, unqualified. */
  merged: Map<string, NonNull>;
  parent?: Scope;
  ctes: Map<string, Map<string, NonNull>>;
  /** GROUP BY: every group has a row, so an aggregate of a non-null argument is not null. */
  grouped?: boolean;
}

const NEVER_NULL_FUNCTIONS = new Set(['count', 'now', 'nextval', 'row_number', 'rank', 'dense_rank', 'concat', 'concat_ws', 'current_timestamp', 'clock_timestamp', 'gen_random_uuid', 'enum_range']);
const STRICT_FUNCTIONS = new Set(['abs', 'round', 'trunc', 'floor', 'ceil', 'lower', 'upper', 'length', 'btrim', 'ltrim', 'rtrim', 'date_trunc', 'to_char', 'md5', 'sign', 'sqrt', 'exp', 'ln', 'left', 'right', 'substr', 'replace', 'jsonb_build_object', 'json_build_object', 'jsonb_build_array', 'to_jsonb', 'format', 'position', 'mod']);
const AGGREGATES_OVER_ROWS = new Set(['sum', 'min', 'max', 'avg', 'bool_and', 'bool_or', 'every', 'first_value', 'last_value']);

// Window frame options (PostgreSQL's parsenodes.h).
const FRAME_NONDEFAULT = 0x1;
const FRAME_BETWEEN = 0x10;
const START_UNBOUNDED_PRECEDING = 0x20;
const START_CURRENT_ROW = 0x200;
const START_OFFSET_PRECEDING = 0x800;
const END_UNBOUNDED_FOLLOWING = 0x100;
const END_CURRENT_ROW = 0x400;
const END_OFFSET_FOLLOWING = 0x4000;
const EXCLUSIONS = 0x8000 | 0x10000 | 0x20000;

export class NullabilityInference {
  private views = new Map<string, Map<string, NonNull> | null>();

  constructor(private relations: Relations, private requiredParams: Set<number> = new Set()) {}

  /** One entry per result column of the statement (RETURNING or the SELECT list), or undefined when it has none. */
  results(stmt: Node): NonNull[] | undefined {
    const columns = this.statement(stmt, undefined);
    return columns?.map(([, value]) => value);
  }

  /**
   * Per result column, whether an array's elements are never null: `array_agg(x)` of a non-null
   * `x`, `ARRAY[...]` of non-null values, `ARRAY(SELECT x ...)` of a non-null `x`, an enum's labels.
   * Undefined when not provable (a column of array type: precog.config.json can say so).
   */
  elements(stmt: Node): NonNull[] | undefined {
    const columns = this.statement(stmt, undefined);
    return columns?.map(([, , elements]) => elements);
  }

  private statement(stmt: Node, parent: Scope | undefined, ctesIn?: Map<string, Map<string, NonNull>>): Column[] | undefined {
    const [type, body] = unwrap(stmt);
    const ctes = new Map(ctesIn ?? parent?.ctes ?? []);
    for (const cte of (body?.withClause?.ctes ?? []) as Node[]) {
      const { ctename, ctequery, aliascolnames } = cte.CommonTableExpr;
      const columns = this.statement(ctequery, undefined, ctes) ?? [];
      const renamed = names(aliascolnames);
      ctes.set(ctename, new Map(columns.map(([name, value], index) => [renamed[index] ?? name, value])));
    }
    if (type === 'SelectStmt') return this.select(body, parent, ctes);
    if (type === 'InsertStmt' || type === 'UpdateStmt' || type === 'DeleteStmt') {
      const returning = (body.returningClause?.exprs ?? body.returningList) as Node[] | undefined;
      if (!returning?.length) return undefined;
      const scope: Scope = { sources: [], merged: new Map(), parent, ctes };
      const target = this.relation(body.relation, ctes);
      if (target) scope.sources.push(target);
      for (const item of (type === 'UpdateStmt' ? body.fromClause : type === 'DeleteStmt' ? body.usingClause : undefined) ?? []) {
        this.fromItem(item, scope, false);
      }
      return this.targets(returning, scope);
    }
    return undefined;
  }

  private select(select: Node, parent: Scope | undefined, ctes: Map<string, Map<string, NonNull>>): Column[] | undefined {
    if (select.op && select.op !== 'SETOP_NONE') {
      const left = this.select(select.larg, parent, ctes);
      const right = this.select(select.rarg, parent, ctes);
      if (!left || !right) return left?.map(([name]) => [name, undefined]);
      return left.map(([name, value], index) => [name, both(value, right[index]?.[1])]);
    }
    const scope: Scope = { sources: [], merged: new Map(), parent, ctes, grouped: Boolean(select.groupClause?.length) };
    if (select.valuesLists) {
      const rows = (select.valuesLists as Node[]).map((row) => (row.List.items as Node[]).map((item) => this.expr(item, scope)));
      return rows[0]!.map((_, index) => [`column${index + 1}`, rows.reduce<NonNull>((all, row) => both(all, row[index]), true)]);
    }
    for (const item of (select.fromClause ?? []) as Node[]) this.fromItem(item, scope, false);
    return this.targets(select.targetList ?? [], scope);
  }

  private targets(list: Node[], scope: Scope): Column[] | undefined {
    const out: Column[] = [];
    for (const target of list) {
      const { name, val } = target.ResTarget;
      if (unwrap(val)[0] === 'ColumnRef' && names(val.ColumnRef.fields).at(-1) === '*') return undefined;
      const written = (name as string | undefined) ?? outputName(val);
      const hint = written?.at(-1);
      const value = hint === '!' ? true : hint === '?' ? false : this.expr(val, scope);
      out.push([hint === '!' || hint === '?' ? written!.slice(0, -1) : written ?? '?column?', value, this.elementsOf(val, scope)]);
    }
    return out;
  }

  private fromItem(item: Node, scope: Scope, nullable: boolean): Source[] {
    const [type, body] = unwrap(item);
    if (type === 'RangeVar') {
      const source = this.relation(body, scope.ctes);
      if (!source) return [];
      source.nullable = nullable;
      scope.sources.push(source);
      return [source];
    }
    if (type === 'RangeSubselect') {
      // LATERAL sees the sources to its left (the scope so far).
      const inner = this.statement(body.subquery, body.lateral ? scope : scope.parent, scope.ctes) ?? [];
      const renamed = names(body.alias?.colnames);
      const source: Source = {
        name: body.alias?.aliasname ?? '',
        columns: new Map(inner.map(([name, value], index) => [renamed[index] ?? name, value])),
        nullable,
      };
      scope.sources.push(source);
      return [source];
    }
    if (type === 'JoinExpr') {
      const kind = body.jointype as string;
      const left = this.fromItem(body.larg, scope, nullable || kind === 'JOIN_RIGHT' || kind === 'JOIN_FULL');
      const right = this.fromItem(body.rarg, scope, nullable || kind === 'JOIN_LEFT' || kind === 'JOIN_FULL');
      for (const column of names(body.usingClause)) {
        const value = (sources: Source[]) => {
          const found = sources.find((source) => source.columns.has(column));
          return found ? (found.nullable ? false : found.columns.get(column)) : undefined;
        };
        const merged = kind === 'JOIN_FULL' ? either(value(left), value(right)) : kind === 'JOIN_RIGHT' ? value(right) : value(left);
        scope.merged.set(column, merged);
      }
      return [...left, ...right];
    }
    // RangeFunction (unnest, generate_series) and others: columns unknown, but named.
    const alias = body?.alias?.aliasname as string | undefined;
    const source: Source = { name: alias ?? '', columns: new Map(names(body?.alias?.colnames).map((name) => [name, undefined])), nullable };
    scope.sources.push(source);
    return [source];
  }

  private relation(rangeVar: Node, ctes: Map<string, Map<string, NonNull>>): Source | undefined {
    const table = rangeVar.relname as string;
    const name = (rangeVar.alias?.aliasname as string | undefined) ?? table;
    if (!rangeVar.schemaname && ctes.has(table)) return { name, columns: new Map(ctes.get(table)), nullable: false };
    if (rangeVar.schemaname && rangeVar.schemaname !== 'public') return undefined;
    const relation = this.relations.get(table);
    if (!relation) return undefined;
    if (relation.definition !== undefined) {
      const traced = this.view(table, relation);
      return { name, columns: new Map([...relation.columns.keys()].map((column) => [column, traced?.get(column)])), nullable: false };
    }
    return { name, columns: new Map(relation.columns), nullable: false };
  }

  private view(table: string, relation: RelationColumns): Map<string, NonNull> | undefined {
    if (this.views.has(table)) return this.views.get(table) ?? undefined;
    this.views.set(table, null); // a cycle (impossible in PostgreSQL) reads as unknown
    let traced: Map<string, NonNull> | undefined;
    try {
      const [parsed] = parseStatements(relation.definition!);
      // A view's definition has no parameters: nothing in it is required.
      const inner = parsed && new NullabilityInference(this.relations).statement(parsed.stmt, undefined);
      const columns = [...relation.columns.keys()];
      if (inner) traced = new Map(inner.map(([, value], index) => [columns[index]!, value]));
    } catch {
      traced = undefined;
    }
    this.views.set(table, traced ?? null);
    return traced;
  }

  private column(fields: string[], scope: Scope | undefined): NonNull {
    for (let current = scope; current; current = current.parent) {
      if (fields.length === 1) {
        const [column] = fields;
        if (current.merged.has(column!)) return current.merged.get(column!);
        const found = current.sources.filter((source) => source.columns.has(column!));
        if (found.length > 1) return undefined;
        if (found.length === 1) return found[0]!.nullable ? false : found[0]!.columns.get(column!);
      } else if (fields.length === 2) {
        const source = current.sources.find((candidate) => candidate.name === fields[0]);
        if (source) return source.nullable ? false : source.columns.get(fields[1]!);
      } else {
        return undefined;
      }
    }
    return undefined;
  }

  expr(expr: Node, scope: Scope): NonNull {
    const [type, body] = unwrap(expr);
    switch (type) {
      case 'A_Const':
        return !body.isnull;
      case 'ParamRef':
        return this.requiredParams.has(body.number) ? true : false;
      case 'ColumnRef':
        return this.column(names(body.fields), scope);
      case 'TypeCast':
        return this.expr(body.arg, scope);
      case 'CollateClause':
        return this.expr(body.arg, scope);
      case 'A_Expr': {
        if (body.kind === 'AEXPR_DISTINCT' || body.kind === 'AEXPR_NOT_DISTINCT') return true;
        if (body.kind === 'AEXPR_NULLIF') return false;
        // A JSON path that is not there is null, whatever the operands.
        if (['->', '->>', '#>', '#>>'].includes(names(body.name).at(-1) ?? '')) return false;
        const operands = [body.lexpr, body.rexpr].filter(Boolean).flatMap((operand: Node) =>
          unwrap(operand)[0] === 'List' ? operand.List.items : [operand],
        );
        return all(operands.map((operand: Node) => this.expr(operand, scope)));
      }
      case 'BoolExpr':
        return all((body.args as Node[]).map((arg) => this.expr(arg, scope)));
      case 'NullTest':
      case 'BooleanTest':
        return true;
      case 'CoalesceExpr':
      case 'MinMaxExpr':
        return either(...(body.args as Node[]).map((arg) => this.expr(arg, scope)));
      case 'CaseExpr': {
        if (!body.defresult) return false;
        return all([...(body.args as Node[]).map((when) => this.expr(when.CaseWhen.result, scope)), this.expr(body.defresult, scope)]);
      }
      case 'SubLink':
        if (body.subLinkType === 'EXISTS_SUBLINK' || body.subLinkType === 'ARRAY_SUBLINK') return true;
        if (body.subLinkType === 'EXPR_SUBLINK') return false;
        return undefined;
      case 'A_ArrayExpr':
      case 'RowExpr':
        return true;
      case 'SQLValueFunction':
        return true;
      case 'FuncCall':
        return this.call(body, scope);
      default:
        return undefined;
    }
  }

  /** Whether the elements of an array value are never null (see `elements`). */
  private elementsOf(expr: Node, scope: Scope): NonNull {
    const [type, body] = unwrap(expr);
    switch (type) {
      case 'TypeCast':
      case 'CollateClause':
        return this.elementsOf(body.arg, scope);
      case 'A_ArrayExpr':
        return all(((body.elements ?? []) as Node[]).map((element) => this.expr(element, scope)));
      case 'CoalesceExpr':
        return all((body.args as Node[]).map((arg) => this.elementsOf(arg, scope)));
      case 'SubLink': {
        if (body.subLinkType !== 'ARRAY_SUBLINK') return undefined;
        const [column] = this.statement(body.subselect, scope) ?? [];
        return column?.[1];
      }
      case 'FuncCall': {
        const name = names(body.funcname).at(-1) ?? '';
        if (name === 'enum_range') return true;
        // array_agg of a non-null value: FILTER and ORDER BY drop or reorder rows, never add a null.
        if (name === 'array_agg' && body.args?.length === 1) return this.expr(body.args[0], scope) === true ? true : false;
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private call(call: Node, scope: Scope): NonNull {
    const name = names(call.funcname).at(-1) ?? '';
    if (NEVER_NULL_FUNCTIONS.has(name)) return true;
    // The labels of an enum: never a null among them.
    if (name === 'unnest' && call.args?.length === 1 && names(call.args[0]?.FuncCall?.funcname).at(-1) === 'enum_range') return true;
    const args = ((call.args ?? []) as Node[]).map((arg) => this.expr(arg, scope));
    if (AGGREGATES_OVER_ROWS.has(name)) {
      // Over a frame that holds the current row, an aggregate of a non-null argument is not null.
      if (call.over && !call.agg_filter && holdsCurrentRow(call.over.WindowDef?.frameOptions ?? call.over.frameOptions)) return all(args);
      if (!call.over && !call.agg_filter && scope.grouped) return all(args);
      return false;
    }
    if (STRICT_FUNCTIONS.has(name) && !call.over) return all(args);
    return undefined;
  }
}

function holdsCurrentRow(options: number | undefined): boolean {
  if (!options || !(options & FRAME_NONDEFAULT)) return true;
  if (options & EXCLUSIONS) return false;
  const start = options & (START_UNBOUNDED_PRECEDING | START_CURRENT_ROW | START_OFFSET_PRECEDING);
  if (!start) return false;
  if (!(options & FRAME_BETWEEN)) return true; // ROWS UNBOUNDED PRECEDING: ends at the current row
  return Boolean(options & (END_CURRENT_ROW | END_UNBOUNDED_FOLLOWING | END_OFFSET_FOLLOWING));
}

/** The name PostgreSQL gives an unaliased result column. */
function outputName(val: Node): string | undefined {
  const [type, body] = unwrap(val);
  if (type === 'ColumnRef') return names(body.fields).at(-1);
  if (type === 'TypeCast') return outputName(body.arg);
  if (type === 'FuncCall') return names(body.funcname).at(-1);
  if (type === 'CoalesceExpr') return 'coalesce';
  return undefined;
}

/** Not null when every one is not; null-able when one is; unknown otherwise. */
function all(values: NonNull[]): NonNull {
  if (values.every((value) => value === true)) return true;
  if (values.some((value) => value === false) && values.every((value) => value !== undefined)) return false;
  return undefined;
}

function either(...values: NonNull[]): NonNull {
  if (values.some((value) => value === true)) return true;
  if (values.every((value) => value === false)) return false;
  return undefined;
}

function both(a: NonNull, b: NonNull): NonNull {
  return all([a, b]);
}

/**
 * Parameters written straight into a NOT NULL column (`INSERT ... VALUES (:x)`, `UPDATE ... SET
 * c = :x`, seen through casts): null would be refused by the database, so they are required
 * whether or not they are marked `!` (pgtyped's #583). By parameter number.
 */
export function writtenToNotNull(stmt: Node, relations: Relations): Set<number> {
  const required = new Set<number>();
  const [type, body] = unwrap(stmt);
  const param = (expr: Node): number | undefined => {
    const [kind, value] = unwrap(expr);
    if (kind === 'TypeCast') return param(value.arg);
    return kind === 'ParamRef' ? (value.number as number) : undefined;
  };
  const notNull = (table: string, column: string) => relations.get(table)?.columns.get(column) === true;
  if (type === 'InsertStmt') {
    const table = body.relation?.relname as string;
    const columns = ((body.cols ?? []) as Node[]).map((col) => col.ResTarget.name as string);
    for (const row of (body.selectStmt?.SelectStmt?.valuesLists ?? []) as Node[]) {
      (row.List.items as Node[]).forEach((item, index) => {
        const number = param(item);
        if (number !== undefined && columns[index] && notNull(table, columns[index]!)) required.add(number);
      });
    }
  }
  if (type === 'UpdateStmt') {
    const table = body.relation?.relname as string;
    for (const target of (body.targetList ?? []) as Node[]) {
      const number = param(target.ResTarget.val);
      if (number !== undefined && !target.ResTarget.indirection && notNull(table, target.ResTarget.name)) required.add(number);
    }
  }
  for (const cte of (body?.withClause?.ctes ?? []) as Node[]) for (const n of writtenToNotNull(cte.CommonTableExpr.ctequery, relations)) required.add(n);
  return required;
}
