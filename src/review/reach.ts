/**
 * What a function or a query can read, judged by its dependencies rather than by the names in
 * its text: a view reads what its rewrite rule depends on (pg_depend, recorded by PostgreSQL), a
 * function what its body names (scanned with PostgreSQL's own lexer, string constants included,
 * so that dynamic SQL counts; a `BEGIN ATOMIC` body's dependencies are in pg_depend too), and
 * each of those, in turn, what it reads. A relation reached is reported by its partition root, so
 * that `trades_live` and `live_trades` both lead to `trades`.
 *
 * What it cannot see: a table named in text built at run time (`format('%I', ...)` of a value),
 * a function of another schema, a function reached only through an operator or a cast.
 */
import type pg from 'pg';
import { scanSync } from 'libpg-query';
import { parserReady } from '../parser/pg-ast.js';

type Client = Pick<pg.ClientBase, 'query'>;

export interface Reach {
  /** Tagged tables a function (by name) reads, each with the path it takes: ['live_trades', 'trades']. */
  ofFunction(name: string): Map<string, string[]>;
  /** Tagged tables the names in a query's text lead to, through functions and views. */
  ofText(sql: string): Map<string, string[]>;
  /** Tagged tables the functions a query's text names read: what it reaches without naming a table. */
  ofCalls(sql: string): Map<string, string[]>;
}

/** Node keys: `r:<name>` a relation (by its partition root), `f:<name>` a function. */
export async function readReach(client: Client, tagged: string[]): Promise<Reach> {
  await parserReady();
  const { rows: relations } = await client.query<{ name: string; root: string }>(`
      SELECT c.relname AS name, coalesce((SELECT r.relname FROM pg_class r WHERE r.oid = pg_partition_root(c.oid)), c.relname)::text AS root
        FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`);
  const { rows: functions } = await client.query<{ name: string; src: string; language: string }>(`
      SELECT p.proname AS name, p.prosrc AS src, l.lanname AS language FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
       WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')`);
  // Views (their rewrite rule) and BEGIN ATOMIC functions: what PostgreSQL itself recorded.
  const { rows: depends } = await client.query<{ from: string; to: string }>(`
      SELECT 'r:' || v.relname AS from, CASE WHEN d.refclassid = 'pg_proc'::regclass THEN 'f:' || (SELECT proname FROM pg_proc WHERE oid = d.refobjid)
               ELSE 'r:' || (SELECT coalesce((SELECT r.relname FROM pg_class r WHERE r.oid = pg_partition_root(c.oid)), c.relname) FROM pg_class c WHERE c.oid = d.refobjid) END AS to
        FROM pg_depend d JOIN pg_rewrite w ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid JOIN pg_class v ON v.oid = w.ev_class
       WHERE d.refobjid <> w.ev_class AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass) AND v.relnamespace = 'public'::regnamespace
      UNION
      SELECT 'f:' || p.proname, CASE WHEN d.refclassid = 'pg_proc'::regclass THEN 'f:' || (SELECT proname FROM pg_proc WHERE oid = d.refobjid)
               ELSE 'r:' || (SELECT coalesce((SELECT r.relname FROM pg_class r WHERE r.oid = pg_partition_root(c.oid)), c.relname) FROM pg_class c WHERE c.oid = d.refobjid) END
        FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
       WHERE d.deptype = 'n' AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass) AND p.pronamespace = 'public'::regnamespace`);

  const relationRoot = new Map(relations.map((r) => [r.name, r.root]));
  const functionNames = new Set(functions.map((f) => f.name));
  const edges = new Map<string, Set<string>>();
  const edge = (from: string, to: string | null) => {
    if (!to || to === from || to.endsWith(':')) return;
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from)!.add(to);
  };
  /** The relations and functions the names in `text` denote. */
  const named = (text: string): string[] => {
    const found = new Set<string>();
    for (const name of identifiers(text)) {
      const root = relationRoot.get(name);
      if (root) found.add(`r:${root}`);
      if (functionNames.has(name)) found.add(`f:${name}`);
    }
    return [...found];
  };
  for (const d of depends) edge(d.from, d.to);
  // A relation reached by a partition's name is its root; the root's own node reads nothing more.
  for (const f of functions) {
    if (f.language !== 'sql' && f.language !== 'plpgsql') continue;
    for (const to of named(f.src)) edge(`f:${f.name}`, to);
  }

  const taggedSet = new Set(tagged);
  const walk = (starts: string[]): Map<string, string[]> => {
    const reached = new Map<string, string[]>();
    const seen = new Set<string>();
    const queue: { node: string; path: string[] }[] = starts.map((node) => ({ node, path: [node.slice(2)] }));
    while (queue.length) {
      const { node, path } = queue.shift()!;
      if (seen.has(node)) continue;
      seen.add(node);
      const name = node.slice(2);
      if (node.startsWith('r:') && taggedSet.has(name)) {
        if (!reached.has(name)) reached.set(name, path);
        continue;
      }
      for (const next of edges.get(node) ?? []) queue.push({ node: next, path: [...path, next.slice(2)] });
    }
    return reached;
  };
  return {
    ofFunction: (name) => {
      const reached = walk([`f:${name}`]);
      // The function itself is not a step of the path said to the reader.
      for (const [table, path] of reached) reached.set(table, path.slice(1));
      return reached;
    },
    ofText: (sql) => walk(named(sql)),
    ofCalls: (sql) => walk(named(sql).filter((node) => node.startsWith('f:'))),
  };
}

/**
 * The identifiers of a SQL or PL/pgSQL text, lower-cased as PostgreSQL folds them (quoted ones
 * kept as written), from its tokens: comments are skipped, string constants are scanned again
 * (the text of an EXECUTE). Text the lexer refuses yields the words it holds.
 */
export function identifiers(text: string, depth = 0): string[] {
  let tokens;
  try {
    tokens = scanSync(text).tokens;
  } catch {
    return [...text.toLowerCase().matchAll(/[a-z_][a-z0-9_$]*/g)].map((m) => m[0]);
  }
  const names: string[] = [];
  for (const token of tokens) {
    if (token.tokenName === 'SQL_COMMENT' || token.tokenName === 'C_COMMENT') continue;
    if (token.tokenName === 'SCONST') {
      if (depth < 3) names.push(...identifiers(unquote(token.text), depth + 1));
      continue;
    }
    if (token.tokenName === 'IDENT' || token.keywordKind > 0) {
      names.push(token.text.startsWith('"') ? token.text.slice(1, -1).replace(/""/g, '"') : token.text.toLowerCase());
    }
  }
  return names;
}

/** `'a ''b'''` → `a 'b'`; `$q$...$q$` → its body; `E'...'` → its body. */
function unquote(literal: string): string {
  const dollar = /^\$([^$]*)\$([\s\S]*)\$\1\$$/.exec(literal);
  if (dollar) return dollar[2]!;
  return literal.replace(/^[eEnN]?'/, '').replace(/'$/, '').replace(/''/g, "'");
}
