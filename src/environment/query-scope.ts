/**
 * Is every read or write of an environment-tagged relation in a query pinned to the scope's
 * `:execution_environment` parameter?
 *
 * Values are tracked as equivalence classes (union-find): `a = b` in a conjunct of a WHERE or
 * JOIN ... ON joins the classes of a and b; CTEs, subqueries and RETURNING lists pass their
 * columns' classes on. A reference is scoped when its execution_environment is in the class of
 * the parameter. Two rows of one tagged table with equal `id` (its key) are the same row, so
 * they share an environment: that is how `UPDATE positions p ... FROM current_version WHERE
 * p.id = current_version.id` is scoped by the CTE that found the row.
 */
import { conjuncts, ctes, forEachSubLink, names, type Node, unwrap } from '../parser/pg-ast.js';
import { ENV_COLUMN } from '../lint/migration-rules.js';

const PARAM = `param:${ENV_COLUMN}`;
const KEY = 'id';

export interface Unscoped {
  table: string;
  /** Byte offset of the reference in the parsed text. */
  location: number;
  /** read: FROM/JOIN; write: UPDATE or DELETE target; insert: INSERT target. */
  kind: 'read' | 'write' | 'insert';
}

interface Ref { id: number; table: string; location: number; tagged: boolean; kind: 'read' | 'write' | 'target' }
interface Derived { columns: Map<string, string | undefined>; order: (string | undefined)[]; stars: Source[] }
type Source = { ref: Ref } | { derived: Derived };
interface Scope { sources: Map<string, Source>; parent: Scope | undefined; ctes: Map<string, Derived> }

export function unscopedReferences(stmt: Node, paramNames: Map<number, string>, tagged: Set<string>): Unscoped[] {
  const analysis = new Analysis(paramNames, tagged);
  analysis.statement(stmt, undefined, new Map());
  return analysis.verdict();
}

class Analysis {
  private refs: Ref[] = [];
  private parent = new Map<string, string>();
  private inserts: { ref: Ref; values: (string | undefined)[] }[] = [];

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

  verdict(): Unscoped[] {
    // Equal keys of one tagged table mean one row, hence one environment; repeat to a fixpoint.
    for (let changed = true; changed;) {
      changed = false;
      for (const a of this.refs) for (const b of this.refs) {
        if (a.id < b.id && a.tagged && a.table === b.table && this.find(`r${a.id}.${KEY}`) === this.find(`r${b.id}.${KEY}`)) {
          changed = this.union(`r${a.id}.${ENV_COLUMN}`, `r${b.id}.${ENV_COLUMN}`) || changed;
        }
      }
    }
    const param = this.find(PARAM);
    const unscoped: Unscoped[] = [];
    for (const ref of this.refs) {
      if (!ref.tagged || ref.kind === 'target') continue;
      if (this.find(`r${ref.id}.${ENV_COLUMN}`) !== param) unscoped.push({ table: ref.table, location: ref.location, kind: ref.kind });
    }
    for (const { ref, values } of this.inserts) {
      if (!values.length || values.some((value) => value === undefined || this.find(value) !== param)) {
        unscoped.push({ table: ref.table, location: ref.location, kind: 'insert' });
      }
    }
    return unscoped;
  }

  /** Any statement; returns what it yields (SELECT list or RETURNING) as a derived relation. */
  statement(node: Node, parent: Scope | undefined, visible: Map<string, Derived>): Derived {
    const [type, s] = unwrap(node);
    const known = new Map(visible);
    for (const [name, query] of ctes(s?.withClause)) known.set(name, this.statement(query, parent, known));
    if (type === 'SelectStmt') return this.select(s, parent, known);
    if (type === 'InsertStmt') return this.insert(s, parent, known);
    if (type === 'UpdateStmt' || type === 'DeleteStmt') {
      const scope: Scope = { sources: new Map(), parent, ctes: known };
      this.addRangeVar(scope, s.relation, 'write');
      const joinQuals: Node[] = [];
      for (const item of [...(s.fromClause ?? []), ...(s.usingClause ?? [])]) joinQuals.push(...this.addFrom(scope, item));
      this.constrain([...conjuncts(s.whereClause), ...joinQuals], scope);
      this.subqueries([s.whereClause, s.targetList, joinQuals], scope);
      return this.output(s.returningClause?.exprs ?? s.returningList, scope);
    }
    return emptyDerived();
  }

  private select(s: Node, parent: Scope | undefined, known: Map<string, Derived>): Derived {
    if (s.op && s.op !== 'SETOP_NONE') {
      const left = this.statement(s.larg, parent, known);
      this.statement(s.rarg, parent, known);
      return left;
    }
    const scope: Scope = { sources: new Map(), parent, ctes: known };
    const joinQuals: Node[] = [];
    for (const item of s.fromClause ?? []) joinQuals.push(...this.addFrom(scope, item));
    this.constrain([...conjuncts(s.whereClause), ...joinQuals], scope);
    // Not fromClause: subqueries in FROM were analysed by addFrom, in their own scope.
    this.subqueries([s.whereClause, s.targetList, s.havingClause, joinQuals, s.valuesLists], scope);
    return this.output(s.targetList, scope);
  }

  private insert(s: Node, parent: Scope | undefined, known: Map<string, Derived>): Derived {
    const scope: Scope = { sources: new Map(), parent, ctes: known };
    const columns = ((s.cols ?? []) as Node[]).map((col) => col.ResTarget.name as string);
    const ref = this.addRangeVar(scope, s.relation, 'target');
    const index = columns.indexOf(ENV_COLUMN);
    const values: (string | undefined)[] = [];
    const [, select] = unwrap(s.selectStmt);
    if (select?.valuesLists) {
      const valuesScope: Scope = { sources: new Map(), parent, ctes: known };
      this.subqueries([select.valuesLists], valuesScope);
      for (const row of select.valuesLists as Node[]) values.push(index < 0 ? undefined : this.value(row.List.items[index], valuesScope));
    } else if (s.selectStmt) {
      const derived = this.statement(s.selectStmt, parent, known);
      values.push(index < 0 ? undefined : derived.order[index]);
    }
    if (ref?.tagged) {
      this.inserts.push({ ref, values: index < 0 ? [undefined] : values });
      // RETURNING the new row's environment returns what was inserted.
      for (const value of values) if (value) this.union(`r${ref.id}.${ENV_COLUMN}`, value);
    }
    return this.output(s.returningClause?.exprs ?? s.returningList, scope);
  }

  /** Adds a FROM item to the scope; returns its JOIN conditions. */
  private addFrom(scope: Scope, item: Node): Node[] {
    const [type, f] = unwrap(item);
    if (type === 'RangeVar') this.addRangeVar(scope, f, 'read');
    if (type === 'JoinExpr') {
      return [...this.addFrom(scope, f.larg), ...this.addFrom(scope, f.rarg), ...conjuncts(f.quals)];
    }
    if (type === 'RangeSubselect') {
      const derived = this.statement(f.subquery, f.lateral ? scope : scope.parent, scope.ctes);
      if (f.alias) scope.sources.set(f.alias.aliasname, { derived });
    }
    return [];
  }

  private addRangeVar(scope: Scope, rangeVar: Node, kind: Ref['kind']): Ref | undefined {
    const alias = rangeVar.alias?.aliasname ?? rangeVar.relname;
    const cte = !rangeVar.schemaname && scope.ctes.get(rangeVar.relname);
    if (cte) {
      scope.sources.set(alias, { derived: cte });
      return undefined;
    }
    const ref: Ref = { id: this.refs.length, table: rangeVar.relname, location: rangeVar.location ?? 0, tagged: this.tagged.has(rangeVar.relname), kind };
    this.refs.push(ref);
    scope.sources.set(alias, { ref });
    return ref;
  }

  private constrain(quals: Node[], scope: Scope): void {
    for (const qual of quals) {
      const [type, e] = unwrap(qual);
      const equality = type === 'A_Expr' && ((e.kind === 'AEXPR_OP' && names(e.name)[0] === '=') || e.kind === 'AEXPR_NOT_DISTINCT');
      if (!equality) continue;
      const [left, right] = [this.value(e.lexpr, scope), this.value(e.rexpr, scope)];
      if (left && right) this.union(left, right);
    }
  }

  private subqueries(nodes: Node[], scope: Scope): void {
    for (const node of nodes) forEachSubLink(node, (subselect) => this.statement(subselect, scope, scope.ctes));
  }

  /** The class a value expression belongs to: a column, or a parameter, seen through casts. */
  private value(expr: Node, scope: Scope): string | undefined {
    const [type, e] = unwrap(expr);
    if (type === 'TypeCast') return this.value(e.arg, scope);
    if (type === 'ParamRef') return `param:${this.paramNames.get(e.number) ?? `$${e.number}`}`;
    if (type === 'ColumnRef') return this.column(names(e.fields), scope);
    return undefined;
  }

  private column(path: string[], scope: Scope | undefined): string | undefined {
    const name = path.at(-1)!;
    for (let s = scope; s; s = s.parent) {
      if (path.length >= 2) {
        const source = s.sources.get(path.at(-2)!);
        if (source) return columnOf(source, name);
        continue;
      }
      const candidates = [...s.sources.values()].filter((source) => hasColumn(source, name));
      const pick = candidates.length === 1 ? candidates[0]
        : s.sources.size === 1 ? [...s.sources.values()][0]
          : undefined;
      if (pick) return columnOf(pick, name);
    }
    return undefined;
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
      const value = this.value(val, scope);
      derived.order.push(value);
      if (column) derived.columns.set(column, value);
    }
    return derived;
  }
}

const emptyDerived = (): Derived => ({ columns: new Map(), order: [], stars: [] });

/** Only the environment column is known to exist on a tagged base relation without the schema. */
function hasColumn(source: Source, name: string): boolean {
  if ('ref' in source) return source.ref.tagged && name === ENV_COLUMN;
  return source.derived.columns.has(name) || source.derived.stars.some((star) => hasColumn(star, name));
}

function columnOf(source: Source, name: string): string | undefined {
  if ('ref' in source) return `r${source.ref.id}.${name}`;
  if (source.derived.columns.has(name)) return source.derived.columns.get(name);
  for (const star of source.derived.stars) {
    const found = columnOf(star, name);
    if (found) return found;
  }
  return undefined;
}
