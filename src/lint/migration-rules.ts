/**
 * Environment safety of the migrations, read statically with the PostgreSQL parser. The
 * migrations are replayed in order into a small model (tables with an execution_environment
 * column, their defaults, foreign keys, triggers, row-level security; views and the
 * environments they show), and the rules judge the FINAL state: a protection that a later
 * migration adds is a protection, so history that was fixed later is not reported forever.
 */
import { type LocatedFinding, located } from './finding.js';
import { conjuncts, constantString, ctes, lineAt, names, type Node, parseStatements, sliceBytes, unwrap } from '../parser/pg-ast.js';

import { DECLARATION, ENVIRONMENT_COLUMN as ENV_COLUMN, ENVIRONMENTS } from '../domain/environment.js';

// ADR-107's words live in src/domain/environment.ts; re-exported for the lint's own readers.
export { ENVIRONMENT_COLUMN as ENV_COLUMN, RUN_COLUMN, ENVIRONMENTS, DECLARATION } from '../domain/environment.js';
export const ANNOTATION = /--\s*cross-environment:[ \t]*(.*)$/m;

interface Where { file: string; line: number }
interface ForeignKey extends Where { columns: string[]; table: string; refColumns: string[] }
interface Trigger { fn: string; update: boolean; columns: string[] }
interface Table {
  env?: Where & { hasDefault: boolean; notNull: boolean };
  /** Where `SELECT precog_environment_table('<table>', ...)` declared it (the last call). */
  declared?: Where;
  foreignKeys: Map<string, ForeignKey>;
  rowSecurity: boolean;
  policies: Set<string>;
  triggers: Map<string, Trigger>;
}
export interface ViewInfo extends Where {
  /** Environments the view can return; undefined when it reads no environment-tagged relation. */
  environments: Set<string> | undefined;
  annotated: boolean;
}

/** What runs with other rights than the caller's, or inside every write: where it looks names up. */
interface FunctionInfo extends Where {
  securityDefiner: boolean;
  returnsTrigger: boolean;
  /** SET search_path of the function, if any. */
  searchPath: string[] | undefined;
  /** A comment before it (or its COMMENT ON FUNCTION) says why it is SECURITY DEFINER. */
  justified: boolean;
  /** EXECUTE was revoked from PUBLIC after it was created (PostgreSQL grants it to PUBLIC by default). */
  revokedFromPublic: boolean;
}

export interface MigrationModel {
  tables: Map<string, Table>;
  functions: Map<string, string>;
  functionInfo: Map<string, FunctionInfo>;
  views: Map<string, ViewInfo>;
  findings: LocatedFinding[];
}

export interface SourceFile { path: string; text: string }

export function readMigrations(files: SourceFile[]): MigrationModel {
  const model: MigrationModel = { tables: new Map(), functions: new Map(), functionInfo: new Map(), views: new Map(), findings: [] };
  for (const file of files) {
    let statements;
    try {
      statements = parseStatements(file.text);
    } catch (error) {
      model.findings.push(located(file.path, 1, 'env/parse-error', `cannot parse: ${(error as Error).message}`));
      continue;
    }
    let previousEnd = 0;
    for (const { stmt, start, end } of statements) {
      const at = (location: number | undefined): Where => ({ file: file.path, line: lineAt(file.text, location ?? start) });
      // From the end of the previous statement: the comment lines just before this one belong to it.
      apply(model, stmt, at, sliceBytes(file.text, previousEnd, end));
      previousEnd = end;
    }
  }
  return model;
}

const table = (model: MigrationModel, name: string): Table => {
  let found = model.tables.get(name);
  if (!found) {
    found = { foreignKeys: new Map(), rowSecurity: false, policies: new Set(), triggers: new Map() };
    model.tables.set(name, found);
  }
  return found;
};

function apply(model: MigrationModel, stmt: Node, at: (location?: number) => Where, text: string): void {
  const [type, body] = unwrap(stmt);
  switch (type) {
    case 'CreateStmt': {
      const name = body.relation.relname as string;
      const t = table(model, name);
      for (const element of body.tableElts ?? []) {
        const [kind, item] = unwrap(element);
        if (kind === 'ColumnDef') addColumn(t, name, item, at);
        if (kind === 'Constraint') addConstraint(t, name, item, at);
      }
      break;
    }
    case 'AlterTableStmt': {
      const name = body.relation.relname as string;
      const t = table(model, name);
      for (const command of body.cmds ?? []) alterTable(t, name, command.AlterTableCmd, at);
      break;
    }
    case 'SelectStmt':
      for (const declared of declarations(body)) declare(model, declared, at(body.location));
      break;
    case 'CreateFunctionStmt': {
      const fn = names(body.funcname).at(-1)!;
      const as = (body.options as Node[] | undefined)?.find((option) => option.DefElem?.defname === 'as');
      model.functions.set(fn, names(as?.DefElem.arg?.List?.items).join('\n'));
      const option = (name: string) => (body.options as Node[] | undefined)?.find((o) => o.DefElem?.defname === name)?.DefElem;
      const set = ((body.options ?? []) as Node[]).map((o) => o.DefElem).find((d) => d?.defname === 'set' && d.arg?.VariableSetStmt?.name === 'search_path');
      const securityDefiner = option('security')?.arg?.Boolean?.boolval === true;
      const previous = model.functionInfo.get(fn);
      model.functionInfo.set(fn, {
        ...at(body.returnType?.location),
        securityDefiner,
        returnsTrigger: names(body.returnType?.names).at(-1) === 'trigger',
        searchPath: set ? ((set.arg.VariableSetStmt.args ?? []) as Node[]).map((arg) => constantString(arg) ?? '') : undefined,
        // CREATE OR REPLACE keeps the function's comment; the text before it may say why, too.
        justified: (previous?.justified ?? false) || (securityDefiner && /SECURITY DEFINER/.test(text.slice(0, text.indexOf('CREATE')))),
        // CREATE OR REPLACE keeps the function's privileges; a new function is executable by PUBLIC.
        revokedFromPublic: body.replace ? (previous?.revokedFromPublic ?? false) : false,
      });
      break;
    }
    case 'CreateTrigStmt': {
      // events is PostgreSQL's TRIGGER_TYPE_* bitmask: 16 is UPDATE.
      table(model, body.relation.relname).triggers.set(body.trigname, {
        fn: names(body.funcname).at(-1)!,
        update: (body.events & 16) !== 0,
        columns: names(body.columns),
      });
      break;
    }
    case 'CreatePolicyStmt':
      table(model, body.table.relname).policies.add(body.policy_name);
      break;
    case 'DropStmt':
      drop(model, body);
      break;
    case 'ViewStmt': {
      const name = body.view.relname as string;
      model.views.set(name, {
        ...at(body.view.location),
        environments: selectEnvironments(body.query, model),
        annotated: ANNOTATION.test(text) && Boolean(ANNOTATION.exec(text)![1]!.trim()),
      });
      break;
    }
    case 'GrantStmt':
      // REVOKE ... ON FUNCTION f FROM PUBLIC (or GRANT ... TO PUBLIC again).
      if (body.objtype === 'OBJECT_FUNCTION' && ((body.grantees ?? []) as Node[]).some((g) => g.RoleSpec?.roletype === 'ROLESPEC_PUBLIC')) {
        for (const object of (body.objects ?? []) as Node[]) {
          const info = model.functionInfo.get(names(object.ObjectWithArgs?.objname).at(-1)!);
          if (info) info.revokedFromPublic = !body.is_grant;
        }
      }
      break;
    case 'CommentStmt':
      if (body.objtype === 'OBJECT_FUNCTION' && /SECURITY DEFINER/.test(body.comment ?? '')) {
        const info = model.functionInfo.get(names(body.object?.ObjectWithArgs?.objname).at(-1)!);
        if (info) info.justified = true;
      }
      if (body.objtype === 'OBJECT_VIEW' && /cross-environment:\s*\S/.test(body.comment ?? '')) {
        const view = model.views.get(names(body.object?.List?.items).at(-1)!);
        if (view) view.annotated = true;
      }
      break;
  }
}

function addColumn(t: Table, tableName: string, column: Node, at: (location?: number) => Where): void {
  const constraints = ((column.constraints ?? []) as Node[]).map((c) => c.Constraint);
  if (column.colname === ENV_COLUMN) {
    t.env = {
      ...at(column.location),
      hasDefault: constraints.some((c) => c.contype === 'CONSTR_DEFAULT'),
      notNull: constraints.some((c) => c.contype === 'CONSTR_NOTNULL' || c.contype === 'CONSTR_PRIMARY'),
    };
  }
  for (const c of constraints.filter((c) => c.contype === 'CONSTR_FOREIGN')) {
    addConstraint(t, tableName, { ...c, fk_attrs: [{ String: { sval: column.colname } }] }, at);
  }
}

function addConstraint(t: Table, tableName: string, c: Node, at: (location?: number) => Where): void {
  if (c.contype !== 'CONSTR_FOREIGN') return;
  const columns = names(c.fk_attrs);
  // PostgreSQL's default name, so that a later DROP CONSTRAINT finds it.
  const name = c.conname ?? `${tableName}_${columns.join('_')}_fkey`;
  t.foreignKeys.set(name, { ...at(c.location), columns, table: c.pktable.relname, refColumns: names(c.pk_attrs) });
}

function alterTable(t: Table, tableName: string, command: Node, at: (location?: number) => Where): void {
  const isEnv = command.name === ENV_COLUMN;
  switch (command.subtype) {
    case 'AT_AddColumn':
      addColumn(t, tableName, command.def.ColumnDef, at);
      break;
    case 'AT_ColumnDefault':
      if (isEnv && t.env) Object.assign(t.env, { hasDefault: Boolean(command.def) }, command.def ? at(command.def.location) : {});
      break;
    case 'AT_SetNotNull':
    case 'AT_DropNotNull':
      if (isEnv && t.env) Object.assign(t.env, { notNull: command.subtype === 'AT_SetNotNull' }, command.subtype === 'AT_DropNotNull' ? at(undefined) : {});
      break;
    case 'AT_DropColumn':
      if (isEnv) delete t.env;
      break;
    case 'AT_AddConstraint':
      addConstraint(t, tableName, command.def.Constraint, at);
      break;
    case 'AT_DropConstraint':
      t.foreignKeys.delete(command.name);
      break;
    case 'AT_EnableRowSecurity':
    case 'AT_ForceRowSecurity':
      t.rowSecurity = true;
      break;
    case 'AT_DisableRowSecurity':
      t.rowSecurity = false;
      break;
  }
}

function drop(model: MigrationModel, body: Node): void {
  for (const object of body.objects ?? []) {
    const path = names(object.List?.items ?? (object.String ? [object] : []));
    const last = path.at(-1)!;
    if (body.removeType === 'OBJECT_TABLE') model.tables.delete(last);
    if (body.removeType === 'OBJECT_VIEW') model.views.delete(last);
    if (body.removeType === 'OBJECT_TRIGGER') model.tables.get(path.at(-2)!)?.triggers.delete(last);
    if (body.removeType === 'OBJECT_POLICY') model.tables.get(path.at(-2)!)?.policies.delete(last);
    if (body.removeType === 'OBJECT_FUNCTION') {
      const name = names(object.ObjectWithArgs?.objname).at(-1);
      if (name) {
        model.functions.delete(name);
        model.functionInfo.delete(name);
      }
    }
  }
}

/** The tables a `SELECT precog_environment_table('<table>', kind => ...)` statement declares. */
function declarations(select: Node): string[] {
  const declared: string[] = [];
  for (const target of (select.targetList ?? []) as Node[]) {
    const [type, call] = unwrap(target.ResTarget?.val);
    if (type !== 'FuncCall' || names(call.funcname).at(-1) !== DECLARATION) continue;
    const table = constantString(call.args?.[0]);
    if (table) declared.push(table);
  }
  return declared;
}

/**
 * What the declaration installs (migration 000010): no default, NOT NULL, the guards, row-level
 * security with policies; foreign keys between declared tables become same-environment
 * references. Later statements of the migrations can still undo any of it, and are judged.
 */
function declare(model: MigrationModel, name: string, where: Where): void {
  const t = table(model, name);
  t.declared = where;
  if (t.env) Object.assign(t.env, { hasDefault: false, notNull: true });
  t.rowSecurity = true;
  t.policies.add('[environment-role]');
  t.triggers.set('environment_update_guard', { fn: 'precog_environment_update_guard', update: true, columns: [] });
  for (const [other, o] of model.tables) {
    if (!o.declared) continue;
    for (const [fkName, fk] of o.foreignKeys) {
      if ((other === name && model.tables.get(fk.table)?.declared) || fk.table === name) o.foreignKeys.delete(fkName);
    }
  }
}

/** Relations whose rows carry an environment and may hold more than one: tables, and views over them that are not single-environment. */
export function multiEnvironmentRelations(model: MigrationModel): Set<string> {
  const relations = new Set([...model.tables].filter(([, t]) => t.env).map(([name]) => name));
  for (const [name, view] of model.views) if (view.environments && view.environments.size > 1) relations.add(name);
  return relations;
}

/**
 * Which environments a SELECT can return: for each environment-tagged relation it reads, the
 * environments its conjuncts pin execution_environment to (= 'x', IN (...), <> 'x', = ANY(ARRAY[...])),
 * all three when nothing pins it. Views read other views' sets.
 */
export function selectEnvironments(select: Node, model: MigrationModel, inherited = new Map<string, Set<string> | undefined>()): Set<string> | undefined {
  const [, s] = unwrap(select);
  if (!s) return undefined;
  if (s.op && s.op !== 'SETOP_NONE') return union(selectEnvironments(s.larg, model, inherited), selectEnvironments(s.rarg, model, inherited));
  const local = new Map(inherited);
  for (const [name, query] of ctes(s.withClause)) local.set(name, selectEnvironments(query, model, local));
  const sources: { alias: string; tagged: boolean; fixed?: Set<string> }[] = [];
  const quals: Node[] = [...conjuncts(s.whereClause)];
  const addFrom = (item: Node) => {
    const [kind, f] = unwrap(item);
    if (kind === 'RangeVar') {
      const alias = f.alias?.aliasname ?? f.relname;
      if (local.has(f.relname)) sources.push({ alias, tagged: false, fixed: local.get(f.relname) });
      else if (model.tables.get(f.relname)?.env) sources.push({ alias, tagged: true });
      else if (model.views.has(f.relname)) sources.push({ alias, tagged: false, fixed: model.views.get(f.relname)!.environments });
    } else if (kind === 'JoinExpr') {
      addFrom(f.larg);
      addFrom(f.rarg);
      quals.push(...conjuncts(f.quals));
    } else if (kind === 'RangeSubselect') {
      sources.push({ alias: f.alias?.aliasname ?? '', tagged: false, fixed: selectEnvironments(f.subquery, model, local) });
    }
  };
  for (const item of s.fromClause ?? []) addFrom(item);
  const tagged = sources.filter((source) => source.tagged);
  let result: Set<string> | undefined;
  for (const source of sources) {
    if (!source.tagged) {
      result = union(result, source.fixed);
      continue;
    }
    let allowed = new Set<string>(ENVIRONMENTS);
    for (const qual of quals) {
      const pinned = pinnedEnvironments(qual, (ref) => ref.length === 2 ? ref[0] === source.alias : tagged.length === 1);
      if (pinned) allowed = new Set([...allowed].filter((env) => pinned.has(env)));
    }
    result = union(result, allowed);
  }
  return result;
}

function pinnedEnvironments(qual: Node, isOurs: (ref: string[]) => boolean): Set<string> | undefined {
  const [type, e] = unwrap(qual);
  if (type !== 'A_Expr') return undefined;
  const column = unwrap(e.lexpr)[0] === 'ColumnRef' ? names(e.lexpr.ColumnRef.fields) : [];
  if (column.at(-1) !== ENV_COLUMN || !isOurs(column)) return undefined;
  const operator = names(e.name)[0];
  const list = (node: Node): string[] => {
    const [kind, body] = unwrap(node);
    if (kind === 'List') return (body.items as Node[]).map(constantString).filter((v): v is string => v !== undefined);
    if (kind === 'A_ArrayExpr') return (body.elements as Node[]).map(constantString).filter((v): v is string => v !== undefined);
    if (kind === 'TypeCast') return list(body.arg);
    const single = constantString(node);
    return single === undefined ? [] : [single];
  };
  const values = list(e.rexpr);
  if (!values.length) return undefined;
  const negated = operator === '<>' || operator === '!=';
  if (e.kind === 'AEXPR_OP' || e.kind === 'AEXPR_IN' || e.kind === 'AEXPR_OP_ANY') {
    return new Set(negated ? ENVIRONMENTS.filter((env) => !values.includes(env)) : values);
  }
  return undefined;
}

function union(a: Set<string> | undefined, b: Set<string> | undefined): Set<string> | undefined {
  if (!a) return b && new Set(b);
  if (!b) return a;
  return new Set([...a, ...b]);
}

/** The defense-in-depth rules, judged on the final state of the migrations. */
export function migrationFindings(model: MigrationModel): LocatedFinding[] {
  const findings: LocatedFinding[] = [...model.findings];
  const report = (where: Where, rule: string, message: string) => findings.push(located(where.file, where.line, rule, message));
  for (const [name, t] of model.tables) {
    if (!t.env) continue;
    const column = `${name}.${ENV_COLUMN}`;
    if (!t.declared) {
      report(t.env, 'env/undeclared-table', `${name} has ${ENV_COLUMN} but is not declared, so it has none of the environment guarantees. Add: SELECT ${DECLARATION}('${name}', kind => 'append_only'); (or kind => 'versioned', business_key => ARRAY['...'], or kind => 'mutable', mutable_columns => ARRAY['...']).`);
      continue;
    }
    const where = t.declared;
    if (t.env.hasDefault) report(t.env, 'env/column-default', `${column} has a DEFAULT again after its declaration: a write that omits the environment silently gets it (the copy-forward bug, Precog #662). Drop the default.`);
    if (!t.env.notNull) report(t.env, 'env/column-nullable', `${column} was made nullable after its declaration: every row must say where it executed. Add NOT NULL back.`);
    const immutable = [...t.triggers.values()].some((trigger) => trigger.update && (trigger.columns.includes(ENV_COLUMN) || trigger.fn === 'precog_environment_update_guard' || guardsEnvironment(model.functions.get(trigger.fn) ?? '')));
    if (!immutable) report(where, 'env/column-mutable', `${column} can be changed by UPDATE: its guard trigger was dropped. Declare the table again: SELECT ${DECLARATION}('${name}', ...).`);
    if (!t.rowSecurity) report(where, 'env/no-row-level-security', `${name} has no row-level security: a role of one environment can read or write another's rows. Declare the table again.`);
    else if (!t.policies.size) report(where, 'env/no-row-level-security', `${name} enables row-level security but has no policy.`);
  }
  for (const [name, t] of model.tables) {
    for (const [fkName, fk] of t.foreignKeys) {
      const target = model.tables.get(fk.table);
      if (!target?.env) continue;
      if (t.env) {
        report(fk, 'env/undeclared-reference', `foreign key ${fkName} (${name} → ${fk.table}) is not a same-environment reference: [environment-cross-reference] does not check it, and once rows reference a backtest row, deleting the run (purge_backtest_run(), db.backtests.delete) and purge_backtest_data() fail (detaching the run's partition of ${fk.table} violates the key). Declare both tables and call SELECT ${DECLARATION}('${name}', ...) after adding the key, which makes it one (checked per statement, environment included).`);
      } else {
        report(fk, 'env/shared-references-tagged', `foreign key ${fkName}: ${name} has no ${ENV_COLUMN} but references the tagged table ${fk.table}, so a row shared by every environment points at one environment's row, and once a row references a backtest row, deleting its run (purge_backtest_run(), db.backtests.delete) and purge_backtest_data() fail (detaching the run's partition of ${fk.table} violates the key). Tag ${name} with ${ENV_COLUMN} and declare it, or drop the key.`);
      }
    }
  }
  // Guards and SECURITY DEFINER functions run inside other roles' writes, or with the owner's
  // rights: a name they resolve through public could be an object a hostile login planted.
  for (const [name, fn] of model.functionInfo) {
    if (!fn.securityDefiner && !fn.returnsTrigger) continue;
    const path = fn.searchPath;
    const what = fn.securityDefiner ? 'SECURITY DEFINER function' : 'trigger function';
    if (!path || path.some((schema) => schema !== 'pg_catalog' && schema !== 'pg_temp')) {
      report(fn, 'env/unpinned-search-path', `${what} ${name} ${path ? `has search_path = ${path.join(', ')}` : 'sets no search_path'}: a function or operator another role creates there could run in its place. Use SET search_path = pg_catalog, pg_temp and schema-qualify our objects (public.positions, OPERATOR(pg_catalog.=)).`);
    }
    if (fn.securityDefiner && !fn.revokedFromPublic) {
      report(fn, 'env/security-definer-public', `SECURITY DEFINER function ${name} is executable by PUBLIC (PostgreSQL's default for a new function): any login, the read-only analyst included, may call it with its owner's rights. REVOKE ALL ON FUNCTION ${name}(...) FROM PUBLIC, and GRANT EXECUTE to the roles its COMMENT names ("Executable by ...").`);
    }
    if (fn.securityDefiner && !fn.justified) {
      report(fn, 'env/security-definer-unjustified', `SECURITY DEFINER function ${name} runs with its owner's rights (bypassing row-level security): say in a comment before it, or in its COMMENT, why SECURITY DEFINER, and why nothing else works.`);
    }
  }
  for (const [name, view] of model.views) {
    const envs = view.environments;
    if (!envs || view.annotated || !envs.has('live') || envs.size < 2) continue;
    report(view, 'env/view-mixes-environments', `view ${name} returns live rows together with ${[...envs].filter((e) => e !== 'live').join(' and ')} rows. Pin it to one side, or annotate it with a "-- cross-environment: <reason>" comment line before it (or in its COMMENT).`);
  }
  return findings;
}

/** A trigger function guards the environment when it compares NEW and OLD's environment, or refuses every update. */
function guardsEnvironment(body: string): boolean {
  if (/\b(NEW|OLD)\.execution_environment\b/i.test(body)) return true;
  return /RAISE\s+EXCEPTION/i.test(body) && !/RETURN\s+NEW/i.test(body);
}
