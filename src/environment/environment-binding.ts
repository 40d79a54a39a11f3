/**
 * Is every read or write of an environment-tagged relation in a query pinned to the scope's
 * `:execution_environment` parameter? And which columns is each parameter compared with or
 * written to?
 *
 * Values are tracked as equivalence classes (union-find): `a = b` in a conjunct of a WHERE, an
 * inner JOIN ... ON or USING, or a HAVING over grouped columns joins the classes of a and b
 * (so do `a IN (b)`, `a = ANY(ARRAY[b])` and row comparisons, element by element). CTEs,
 * subqueries, set operations and RETURNING lists pass their columns' classes on. A reference is
 * scoped when its execution_environment is pinned: in the class of the parameter, or reached
 * from it by a one-way edge (below). Two rows of one tagged table with equal `id` (its key) are
 * the same row, so they share an environment: that is how `UPDATE positions p ... FROM
 * current_version WHERE p.id = current_version.id` is scoped by the CTE that found the row.
 *
 * Some equalities hold one way only, and are edges rather than unions, so that they can never
 * pin the side they do not filter:
 * - the ON of an outer join filters the nullable side, never the preserved one
 *   (`trades t LEFT JOIN x ON t.execution_environment = :execution_environment` reads every trade);
 * - a correlated subquery constrains its own rows by the outer ones, not the other way round
 *   (`NOT EXISTS (... WHERE x.env = t.env AND x.env = :env)` does not pin t);
 * - a set operation's column is pinned only when it is in every branch, and a multi-row
 *   INSERT's environment only when every row's is;
 * - a SELECT that combines rows (a window function, an aggregate, GROUP BY, DISTINCT) has
 *   combined them before any filter above it runs: `(SELECT ..., sum(amount) OVER (...) FROM
 *   account_ledger) s WHERE s.execution_environment = :execution_environment!` sums every
 *   environment's rows. Its output columns are pinned when its own are, never the other way, so
 *   its tagged relations must be pinned inside it (its own WHERE or JOIN).
 */
import { conjuncts, ctes, forEachSubLink, names, type Node, unwrap } from '../parser/pg-ast.js';
import { ENVIRONMENT_COLUMN as ENV_COLUMN } from '../domain/environment.js';

const PARAM = `param:${ENV_COLUMN}`;
const KEY = 'id';

export interface Unscoped {
  table: string;
  /** Byte offset of the reference in the parsed text. */
  location: number;
  /** read: FROM/JOIN; write: UPDATE or DELETE target; insert: INSERT target. */
  kind: 'read' | 'write' | 'insert';
  /** How the query names it (its alias, or the table). */
  alias: string;
}

export interface QueryAnalysis {
  /** Reads and writes of tagged relations not pinned to :execution_environment. */
  unscoped: Unscoped[];
  /** Parameter name → the (table, column) pairs it is equated to, compared with (IN, ANY) or written to. */
  paramColumns: Map<string, { table: string; column: string }[]>;
  /** Every base relation the statement touches, tagged or not (unqualified names; CTEs are not relations). */
  tables: { table: string; kind: 'read' | 'write' | 'insert' }[];
}

export function analyseQuery(stmt: Node, paramNames: Map<number, string>, tagged: Set<string>): QueryAnalysis {
  const analysis = new Analysis(paramNames, tagged);
  analysis.statement(stmt, undefined, new Map());
  return analysis.result();
}

/** The unscoped references alone (the lint's question). */
export function unscopedReferences(stmt: Node, paramNames: Map<number, string>, tagged: Set<string>): Unscoped[] {
  return analyseQuery(stmt, paramNames, tagged).unscoped;
}

interface Ref { id: number; table: string; alias: string; location: number; tagged: boolean; kind: 'read' | 'write' | 'target' }
interface Derived {
  columns: Map<string, string | undefined>;
  /** Output values and names by position (INSERT ... SELECT and set operations match by position). */
  order: (string | undefined)[];
  names: (string | undefined)[];
  stars: Source[];
}
type Source = { ref: Ref } | { derived: Derived };
interface Scope {
  sources: Map<string, Source>;
  /** Columns merged by JOIN ... USING: an unqualified name means the merged column. */
  merged: Map<string, string | undefined>;
  parent: Scope | undefined;
  ctes: Map<string, Derived>;
}
/** What a FROM item adds: its sources, its USING-merged columns, and its join conditions. */
interface FromItem { sources: Source[]; merged: Map<string, string | undefined>; quals: Qual[] }
/** A join condition; `nullable` set: of an outer join, which filters only those sources. */
interface Qual { expr: Node; nullable?: Set<Source> }
/** A value operand: its class node, whether it lives in the current scope, and its source. */
interface Operand { node: string; local: boolean; source?: Source; param?: true }
/** How an equality counts: fully, only toward an outer join's nullable side, or in HAVING. */
interface EqualityContext { scope: Scope; nullable?: Set<Source>; grouped?: Set<string> }

class Analysis {
  private refs: Ref[] = [];
  private parent = new Map<string, string>();
  /** One-way: when `from` is pinned, so is `to`. */
  private edges: [from: string, to: string][] = [];
  /** `node` is pinned when all of `inputs` are (set operations, multi-row inserts). */
  private allOf: { node: string; inputs: string[] }[] = [];
  /** Compared or written, but not equal as a class (IN lists, ANY, INSERT and SET targets). */
  private links: [string, string][] = [];
  /** Columns of `unnest(:param)`: elements of the array parameter. */
  private elements: [node: string, param: string][] = [];
  private inserts: { ref: Ref; env: string | undefined }[] = [];
  private columnNodes = new Map<string, { table: string; column: string }>();
  private fresh = 0;

  constructor(private paramNames: Map<number, string>, private tagged: Set<string>) {}

  private find(node: string): string {
    let root = node;
    while (this.parent.has(root)) root = this.parent.get(root)!;
    return root;
  }

  private union(a: string, b: string): boolean {
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra === rb) return false;
    this.parent.set(ra, rb);
    return true;
  }

  private freshNode(kind: string): string {
    return `${kind}#${this.fresh++}`;
  }

  private allOfNode(inputs: (string | undefined)[]): string | undefined {
    if (!inputs.length || inputs.some((input) => input === undefined)) return undefined;
    if (inputs.length === 1) return inputs[0];
    const node = this.freshNode('all');
    this.allOf.push({ node, inputs: inputs as string[] });
    return node;
  }

  result(): QueryAnalysis {
    // Equal keys of one tagged table mean one row, hence one environment; repeat to a fixpoint.
    for (let changed = true; changed;) {
      changed = false;
      for (const a of this.refs) for (const b of this.refs) {
        if (a.id < b.id && a.tagged && a.table === b.table && this.find(`r${a.id}.${KEY}`) === this.find(`r${b.id}.${KEY}`)) {
          changed = this.union(`r${a.id}.${ENV_COLUMN}`, `r${b.id}.${ENV_COLUMN}`) || changed;
        }
      }
    }
    const pinned = this.pinnedRoots();
    const isPinned = (node: string | undefined) => node !== undefined && pinned.has(this.find(node));
    const unscoped: Unscoped[] = [];
    for (const ref of this.refs) {
      if (!ref.tagged || ref.kind === 'target') continue;
      if (!isPinned(`r${ref.id}.${ENV_COLUMN}`)) unscoped.push({ table: ref.table, alias: ref.alias, location: ref.location, kind: ref.kind });
    }
    for (const { ref, env } of this.inserts) {
      if (!isPinned(env)) unscoped.push({ table: ref.table, alias: ref.alias, location: ref.location, kind: 'insert' });
    }
    const tables = new Map<string, QueryAnalysis['tables'][number]>();
    for (const ref of this.refs) {
      const kind = ref.kind === 'target' ? 'insert' : ref.kind;
      tables.set(`${kind} ${ref.table}`, { table: ref.table, kind });
    }
    return { unscoped, paramColumns: this.paramColumns(), tables: [...tables.values()] };
  }

  private pinnedRoots(): Set<string> {
    const pinned = new Set([this.find(PARAM)]);
    for (let changed = true; changed;) {
      changed = false;
      const pin = (node: string) => {
        if (pinned.has(this.find(node))) return;
        pinned.add(this.find(node));
        changed = true;
      };
      for (const [from, to] of this.edges) if (pinned.has(this.find(from))) pin(to);
      for (const { node, inputs } of this.allOf) if (inputs.every((input) => pinned.has(this.find(input)))) pin(node);
    }
    return pinned;
  }

  /** For each parameter: the columns of its class, and those one edge or link away from it. */
  private paramColumns(): QueryAnalysis['paramColumns'] {
    const byRoot = new Map<string, { table: string; column: string }[]>();
    for (const [node, column] of this.columnNodes) {
      const root = this.find(node);
      byRoot.set(root, [...(byRoot.get(root) ?? []), column]);
    }
    const result: QueryAnalysis['paramColumns'] = new Map();
    for (const name of new Set(this.paramNames.values())) {
      const own = new Set([this.find(`param:${name}`), ...this.elements.filter(([, param]) => param === name).map(([node]) => this.find(node))]);
      const roots = new Set(own);
      for (const [from, to] of this.edges) if (own.has(this.find(from))) roots.add(this.find(to));
      for (const [a, b] of this.links) {
        if (own.has(this.find(a))) roots.add(this.find(b));
        if (own.has(this.find(b))) roots.add(this.find(a));
      }
      const columns = new Map<string, { table: string; column: string }>();
      for (const root of roots) for (const column of byRoot.get(root) ?? []) columns.set(`${column.table}.${column.column}`, column);
      result.set(name, [...columns.values()].sort((a, b) => (a.table === b.table ? cmp(a.column, b.column) : cmp(a.table, b.table))));
    }
    return result;
  }

  /** Any statement; returns what it yields (SELECT list or RETURNING) as a derived relation. */
  statement(node: Node, parent: Scope | undefined, visible: Map<string, Derived>): Derived {
    const [type, s] = unwrap(node);
    if (type === 'SelectStmt') return this.selectBody(s, parent, visible);
    const known = this.withCtes(s?.withClause, parent, visible);
    if (type === 'InsertStmt') return this.insert(s, parent, known);
    if (type === 'UpdateStmt' || type === 'DeleteStmt') {
      const scope = newScope(parent, known);
      const ref = this.addRangeVar(scope, s.relation, 'write');
      const quals: Qual[] = [];
      for (const item of [...(s.fromClause ?? []), ...(s.usingClause ?? [])]) quals.push(...this.addFrom(scope, item).quals);
      this.constrain([...conjuncts(s.whereClause).map((expr) => ({ expr })), ...quals], scope);
      this.assignments(ref, s.targetList, scope);
      this.subqueries([quals.map((qual) => qual.expr), ...fieldsBut(s, 'relation', 'fromClause', 'usingClause', 'withClause')], scope);
      return this.output(s.returningClause?.exprs ?? s.returningList, scope);
    }
    // Anything else (MERGE, ...): every relation it names counts as touched and unpinned, so a
    // statement this analysis does not understand is never taken for a scoped or shared one.
    const scope = newScope(parent, known);
    // A target (MERGE INTO x) is a bare RangeVar body, not a `{ RangeVar }` node.
    if (s?.relation?.relname) this.addRangeVar(scope, s.relation, 'write');
    forEachRangeVar(s, (rangeVar) => this.addRangeVar(scope, rangeVar, 'read'));
    return emptyDerived();
  }

  private withCtes(withClause: Node | undefined, parent: Scope | undefined, visible: Map<string, Derived>): Map<string, Derived> {
    const known = new Map(visible);
    for (const [name, query] of ctes(withClause)) {
      // A recursive CTE reads itself: known (as nothing) while its own query is analysed, not a base table.
      if (withClause.recursive) known.set(name, emptyDerived());
      known.set(name, this.statement(query, parent, known));
    }
    return known;
  }

  /**
   * A SELECT's fields, which libpg-query nests unwrapped in set operations (larg and rarg are
   * bodies, not `{ SelectStmt }` nodes): every branch is analysed, and an output column is
   * pinned only when it is pinned in every branch.
   */
  private selectBody(s: Node, parent: Scope | undefined, visible: Map<string, Derived>): Derived {
    const known = this.withCtes(s.withClause, parent, visible);
    if (s.op && s.op !== 'SETOP_NONE') {
      const left = this.selectBody(s.larg, parent, known);
      const right = this.selectBody(s.rarg, parent, known);
      // Columns are named by the first branch, and matched by position.
      const derived = emptyDerived();
      derived.order = left.order.map((value, i) => this.allOfNode([value, right.order[i]]));
      derived.names = left.names;
      for (const [i, name] of left.names.entries()) if (name) derived.columns.set(name, derived.order[i]);
      // ORDER BY, LIMIT ... of the whole set operation.
      this.subqueries(fieldsBut(s, 'larg', 'rarg', 'withClause'), newScope(parent, known));
      return derived;
    }
    const scope = newScope(parent, known);
    const quals: Qual[] = [];
    for (const item of s.fromClause ?? []) quals.push(...this.addFrom(scope, item).quals);
    this.constrain([...conjuncts(s.whereClause).map((expr) => ({ expr })), ...quals], scope);
    // A HAVING conjunct on grouped columns filters whole groups, whose grouped values are single.
    const grouped = new Set<string>();
    for (const item of s.groupClause ?? []) {
      const operand = this.operand(item, scope);
      if (operand) grouped.add(operand.node);
    }
    for (const expr of conjuncts(s.havingClause)) this.equality(expr, { scope, grouped });
    // Every clause (WHERE, the SELECT list, GROUP BY, HAVING, ORDER BY, LIMIT, ...) but FROM:
    // subqueries in FROM were analysed by addFrom, in their own scope, and JOIN conditions are quals.
    this.subqueries([quals.map((qual) => qual.expr), ...fieldsBut(s, 'fromClause', 'withClause')], scope);
    const derived = this.output(s.targetList, scope);
    return combinesRows(s) ? this.sealed(derived) : derived;
  }

  /**
   * The output of a SELECT that combined its rows: each column a new node, pinned when the
   * column inside is (a one-way edge), so a filter above cannot reach down past the combination.
   * `*` of such a SELECT names no column (nothing above can pin through it).
   */
  private sealed(inner: Derived): Derived {
    const derived = emptyDerived();
    derived.names = inner.names;
    derived.order = inner.order.map((value) => {
      if (value === undefined) return undefined;
      const node = this.freshNode('combined');
      this.edges.push([value, node]);
      return node;
    });
    for (const [i, name] of inner.names.entries()) if (name) derived.columns.set(name, derived.order[i]);
    return derived;
  }

  private insert(s: Node, parent: Scope | undefined, known: Map<string, Derived>): Derived {
    const scope = newScope(parent, known);
    const columns = ((s.cols ?? []) as Node[]).map((col) => col.ResTarget.name as string);
    const ref = this.addRangeVar(scope, s.relation, 'target');
    const rows: (string | undefined)[][] = [];
    const [, select] = unwrap(s.selectStmt);
    if (select?.valuesLists) {
      const valuesScope = newScope(parent, known);
      this.subqueries([select.valuesLists], valuesScope);
      for (const row of select.valuesLists as Node[]) rows.push((row.List.items as Node[]).map((item) => this.operand(item, valuesScope)?.node));
    } else if (s.selectStmt) {
      rows.push(this.statement(s.selectStmt, parent, known).order);
    }
    if (ref) {
      for (const [i, column] of columns.entries()) for (const row of rows) this.link(this.columnNode(ref, column), row[i]);
      const index = columns.indexOf(ENV_COLUMN);
      // Every row's environment must be the parameter; RETURNING the new rows' environment returns it.
      const env = index < 0 ? undefined : this.allOfNode(rows.map((row) => row[index]));
      if (ref.tagged) this.inserts.push({ ref, env });
      if (env) this.union(this.columnNode(ref, ENV_COLUMN), env);
    }
    // ON CONFLICT DO UPDATE and RETURNING: their subqueries are reads like any other.
    this.subqueries(fieldsBut(s, 'relation', 'selectStmt', 'withClause'), scope);
    return this.output(s.returningClause?.exprs ?? s.returningList, scope);
  }

  /** UPDATE ... SET col = value: written, not equal (the old value is what WHERE saw). */
  private assignments(ref: Ref | undefined, targets: Node[] | undefined, scope: Scope): void {
    if (!ref) return;
    for (const target of targets ?? []) {
      const { name, val } = target.ResTarget;
      if (name) this.link(this.columnNode(ref, name), this.operand(val, scope)?.node);
    }
  }

  /** Adds a FROM item to the scope; returns what it added and its join conditions. */
  private addFrom(scope: Scope, item: Node): FromItem {
    const [type, f] = unwrap(item);
    if (type === 'RangeVar') {
      this.addRangeVar(scope, f, 'read');
      return { sources: [scope.sources.get(f.alias?.aliasname ?? f.relname)!].filter(Boolean), merged: new Map(), quals: [] };
    }
    if (type === 'JoinExpr') return this.join(scope, f);
    if (type === 'RangeSubselect') {
      const derived = this.statement(f.subquery, f.lateral ? scope : scope.parent, scope.ctes);
      return this.addDerived(scope, f.alias?.aliasname, derived);
    }
    if (type === 'RangeFunction') return this.addDerived(scope, f.alias?.aliasname, this.unnest(f, scope));
    return { sources: [], merged: new Map(), quals: [] };
  }

  private addDerived(scope: Scope, alias: string | undefined, derived: Derived): FromItem {
    const source: Source = { derived };
    if (alias) scope.sources.set(alias, source);
    return { sources: alias ? [source] : [], merged: new Map(), quals: [] };
  }

  private join(scope: Scope, f: Node): FromItem {
    const left = this.addFrom(scope, f.larg);
    const right = this.addFrom(scope, f.rarg);
    // Outer joins: the ON filters only the nullable side's rows; a FULL join filters neither.
    const nullable = f.jointype === 'JOIN_LEFT' ? new Set(right.sources)
      : f.jointype === 'JOIN_RIGHT' ? new Set(left.sources)
        : f.jointype === 'JOIN_FULL' ? new Set<Source>()
          : undefined;
    const quals: Qual[] = [...left.quals, ...right.quals, ...conjuncts(f.quals).map((expr) => ({ expr, ...(nullable && { nullable }) }))];
    const merged = new Map([...left.merged, ...right.merged]);
    for (const name of names(f.usingClause)) {
      const [l, r] = [this.sideColumn(left, name), this.sideColumn(right, name)];
      if (l && r) this.equate({ node: l, local: true, source: sourceOf(left, name) }, { node: r, local: true, source: sourceOf(right, name) }, { scope, ...(nullable && { nullable }) });
      // The merged column is the preserved side's (COALESCE of both for FULL: unknown).
      merged.set(name, f.jointype === 'JOIN_RIGHT' ? r : f.jointype === 'JOIN_FULL' ? undefined : l);
    }
    for (const [name, value] of merged) scope.merged.set(name, value);
    return { sources: [...left.sources, ...right.sources], merged, quals };
  }

  /** A USING column on one side of a join: a merged column below it, or its one source with it. */
  private sideColumn(side: FromItem, name: string): string | undefined {
    if (side.merged.has(name)) return side.merged.get(name);
    const source = sourceOf(side, name);
    return source && this.columnOf(source, name);
  }

  /** `unnest(:a, :b) AS u(x, y)`: u.x is an element of :a, linked to it for paramColumns. */
  private unnest(f: Node, scope: Scope): Derived {
    const derived = emptyDerived();
    const colnames = names(f.alias?.colnames);
    const args: Node[] = [];
    for (const item of f.functions ?? []) {
      const [call] = item.List?.items ?? [];
      const [type, fn] = unwrap(call);
      if (type === 'FuncCall' && names(fn.funcname).at(-1) === 'unnest') args.push(...(fn.args ?? []));
      else args.push(undefined);
    }
    this.subqueries([f.functions], scope);
    for (const [i, arg] of args.entries()) {
      const node = this.freshNode('element');
      const array = arg && this.operand(arg, scope);
      if (array?.param) this.elements.push([node, array.node.slice('param:'.length)]);
      else this.link(node, array?.node);
      const name = colnames[i] ?? (args.length === 1 ? f.alias?.aliasname : undefined);
      derived.order.push(node);
      derived.names.push(name);
      if (name) derived.columns.set(name, node);
    }
    return derived;
  }

  private addRangeVar(scope: Scope, rangeVar: Node, kind: Ref['kind']): Ref | undefined {
    const alias = rangeVar.alias?.aliasname ?? rangeVar.relname;
    const cte = !rangeVar.schemaname && scope.ctes.get(rangeVar.relname);
    if (cte) {
      scope.sources.set(alias, { derived: cte });
      return undefined;
    }
    const ref: Ref = { id: this.refs.length, table: rangeVar.relname, alias, location: rangeVar.location ?? 0, tagged: this.tagged.has(rangeVar.relname), kind };
    this.refs.push(ref);
    scope.sources.set(alias, { ref });
    return ref;
  }

  private constrain(quals: Qual[], scope: Scope): void {
    for (const { expr, nullable } of quals) this.equality(expr, { scope, ...(nullable && { nullable }) });
  }

  /** One conjunct: `=`, IS NOT DISTINCT FROM, IN (...), = ANY(...), element by element for rows. */
  private equality(qual: Node, context: EqualityContext): void {
    const [type, e] = unwrap(qual);
    if (type !== 'A_Expr' || (names(e.name)[0] !== '=' && e.kind !== 'AEXPR_NOT_DISTINCT')) return;
    if (e.kind === 'AEXPR_OP' || e.kind === 'AEXPR_NOT_DISTINCT') return this.equateExprs(e.lexpr, e.rexpr, context);
    const list: Node[] | undefined = e.kind === 'AEXPR_IN' ? e.rexpr?.List?.items
      : e.kind === 'AEXPR_OP_ANY' ? arrayElements(e.rexpr)
        : undefined;
    // A one-element list is an equality; with more, each element is only compared with.
    if (list?.length === 1) return this.equateExprs(e.lexpr, list[0], context);
    const left = this.operand(e.lexpr, context.scope)?.node;
    if (list) for (const item of list) this.link(left, this.operand(item, context.scope)?.node);
    // = ANY(:ids): the column is one of the array's elements.
    else if (e.kind === 'AEXPR_OP_ANY') this.link(left, this.operand(e.rexpr, context.scope)?.node);
  }

  private equateExprs(left: Node, right: Node, context: EqualityContext): void {
    const [lt, l] = unwrap(left);
    const [rt, r] = unwrap(right);
    if (lt === 'RowExpr' && rt === 'RowExpr') {
      if (l.args?.length === r.args?.length) for (const [i, arg] of (l.args as Node[]).entries()) this.equateExprs(arg, r.args[i], context);
      return;
    }
    const [a, b] = [this.operand(left, context.scope), this.operand(right, context.scope)];
    if (a && b) this.equate(a, b, context);
  }

  private equate(a: Operand, b: Operand, { nullable, grouped }: EqualityContext): void {
    this.link(a.node, b.node);
    // HAVING: only grouped columns have one value per group.
    if (grouped && ![a, b].every((operand) => operand.param || grouped.has(operand.node))) return;
    // An outer column in a subquery filters the subquery's rows, not the outer ones.
    if (!a.local || !b.local) {
      if (a.local) this.edges.push([b.node, a.node]);
      if (b.local) this.edges.push([a.node, b.node]);
      return;
    }
    if (nullable) {
      const [na, nb] = [!!a.source && nullable.has(a.source), !!b.source && nullable.has(b.source)];
      if (na && nb) this.union(a.node, b.node);
      else if (na) this.edges.push([b.node, a.node]);
      else if (nb) this.edges.push([a.node, b.node]);
      return;
    }
    this.union(a.node, b.node);
  }

  private link(a: string | undefined, b: string | undefined): void {
    if (a && b) this.links.push([a, b]);
  }

  private subqueries(nodes: Node[], scope: Scope): void {
    for (const node of nodes) forEachSubLink(node, (subselect) => this.statement(subselect, scope, scope.ctes));
  }

  /** The class a value expression belongs to: a column, or a parameter, seen through casts. */
  private operand(expr: Node, scope: Scope): Operand | undefined {
    const [type, e] = unwrap(expr);
    if (type === 'TypeCast') return this.operand(e.arg, scope);
    if (type === 'ParamRef') return { node: `param:${this.paramNames.get(e.number) ?? `$${e.number}`}`, local: true, param: true };
    if (type === 'ColumnRef') return this.column(names(e.fields), scope);
    return undefined;
  }

  private column(path: string[], scope: Scope): Operand | undefined {
    const name = path.at(-1)!;
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const local = s === scope;
      if (path.length >= 2) {
        const source = s.sources.get(path.at(-2)!);
        if (!source) continue;
        const node = this.columnOf(source, name);
        return node === undefined ? undefined : { node, local, source };
      }
      if (s.merged.has(name)) {
        const node = s.merged.get(name);
        return node === undefined ? undefined : { node, local };
      }
      const source = pick([...s.sources.values()], name);
      if (source) {
        const node = this.columnOf(source, name);
        return node === undefined ? undefined : { node, local, source };
      }
    }
    return undefined;
  }

  private columnOf(source: Source, name: string): string | undefined {
    if ('ref' in source) return this.columnNode(source.ref, name);
    if (source.derived.columns.has(name)) return source.derived.columns.get(name);
    for (const star of source.derived.stars) {
      const found = this.columnOf(star, name);
      if (found) return found;
    }
    return undefined;
  }

  private columnNode(ref: Ref, column: string): string {
    const node = `r${ref.id}.${column}`;
    this.columnNodes.set(node, { table: ref.table, column });
    return node;
  }

  private output(targets: Node[] | undefined, scope: Scope): Derived {
    const derived = emptyDerived();
    for (const target of targets ?? []) {
      const { name, val } = target.ResTarget;
      const [type, v] = unwrap(val);
      if (type === 'ColumnRef' && names(v.fields).at(-1) === '*') {
        const qualifier = names(v.fields).at(-2);
        derived.stars.push(...(qualifier ? [scope.sources.get(qualifier)].filter((x): x is Source => !!x) : scope.sources.values()));
        continue;
      }
      const column = name ?? (type === 'ColumnRef' ? names(v.fields).at(-1) : undefined);
      const value = this.operand(val, scope)?.node;
      derived.order.push(value);
      derived.names.push(column);
      if (column) derived.columns.set(column, value);
    }
    return derived;
  }
}

const emptyDerived = (): Derived => ({ columns: new Map(), order: [], names: [], stars: [] });

const AGGREGATES = new Set([
  'count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'array_agg', 'string_agg', 'json_agg', 'jsonb_agg',
  'json_object_agg', 'jsonb_object_agg', 'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp',
  'percentile_cont', 'percentile_disc', 'mode', 'bit_and', 'bit_or', 'corr', 'covar_pop', 'covar_samp', 'regr_slope',
]);

/** Does this SELECT level combine rows: DISTINCT, GROUP BY, HAVING, a window or an aggregate (outside its subqueries)? */
function combinesRows(s: Node): boolean {
  if (s.distinctClause || s.groupClause?.length || s.havingClause || s.windowClause?.length) return true;
  const combines = (node: Node): boolean => {
    if (Array.isArray(node)) return node.some(combines);
    if (!node || typeof node !== 'object') return false;
    if (node.SubLink) return false;
    const call = node.FuncCall;
    if (call && (call.over || call.agg_star || call.agg_distinct || call.agg_order || call.agg_filter || AGGREGATES.has(names(call.funcname).at(-1) ?? ''))) return true;
    return Object.values(node).some(combines);
  };
  return combines(s.targetList) || combines(s.sortClause);
}
const newScope = (parent: Scope | undefined, ctes: Map<string, Derived>): Scope => ({ sources: new Map(), merged: new Map(), parent, ctes });
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function forEachRangeVar(node: Node, visit: (rangeVar: Node) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) forEachRangeVar(item, visit);
  } else if (node && typeof node === 'object') {
    if (node.RangeVar) visit(node.RangeVar);
    for (const value of Object.values(node)) forEachRangeVar(value, visit);
  }
}

/** A statement's clauses but the named ones: where subqueries are searched, so that none is missed. */
const fieldsBut = (s: Node, ...skip: string[]): Node[] => Object.entries(s).filter(([key]) => !skip.includes(key)).map(([, value]) => value);

/** `ARRAY[a, b]` (seen through casts) → its elements; anything else (a parameter array) → undefined. */
function arrayElements(expr: Node): Node[] | undefined {
  const [type, e] = unwrap(expr);
  if (type === 'TypeCast') return arrayElements(e.arg);
  return type === 'A_ArrayExpr' ? (e.elements ?? []) : undefined;
}

/** The one source an unqualified column can come from: the one known to have it, or the only one. */
function pick(sources: Source[], name: string): Source | undefined {
  const candidates = sources.filter((source) => hasColumn(source, name));
  return candidates.length === 1 ? candidates[0] : sources.length === 1 ? sources[0] : undefined;
}

function sourceOf(side: FromItem, name: string): Source | undefined {
  return pick(side.sources, name);
}

/** Only the environment column is known to exist on a tagged base relation without the schema. */
function hasColumn(source: Source, name: string): boolean {
  if ('ref' in source) return source.ref.tagged && name === ENV_COLUMN;
  return source.derived.columns.has(name) || source.derived.stars.some((star) => hasColumn(star, name));
}
