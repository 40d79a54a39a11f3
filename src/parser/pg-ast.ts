/**
 * Small helpers over libpg-query's JSON AST (the real PostgreSQL parser, as WASM): every node
 * is `{ NodeType: { ...fields } }`, and locations are byte offsets into the parsed text.
 */
import { loadModule, parseSync } from 'libpg-query';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Node = any;

let loaded: Promise<void> | undefined;
/** The WASM module loads once, asynchronously; after that, parsing is synchronous. */
export function parserReady(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

export interface ParsedStatement {
  stmt: Node;
  /** Byte offsets of the statement (including comments before it) in the parsed text. */
  start: number;
  end: number;
}

export function parseStatements(sql: string): ParsedStatement[] {
  const result = parseSync(sql) as { stmts?: { stmt: Node; stmt_location?: number; stmt_len?: number }[] };
  const total = Buffer.byteLength(sql);
  return (result.stmts ?? []).map(({ stmt, stmt_location, stmt_len }) => {
    const start = stmt_location ?? 0;
    return { stmt, start, end: stmt_len ? start + stmt_len : total };
  });
}

/** The node's type name and fields: `{ SelectStmt: {...} }` → ['SelectStmt', {...}]. */
export function unwrap(node: Node): [string, Node] {
  if (!node || typeof node !== 'object') return ['', undefined];
  const [type] = Object.keys(node);
  return [type ?? '', type ? node[type] : undefined];
}

/** `[{String: {sval: 'a'}}, ...]` → ['a', ...]; A_Star becomes '*'. */
export function names(list: Node[] | undefined): string[] {
  return (list ?? []).map((item) => (item.String ? item.String.sval : item.A_Star ? '*' : ''));
}

/** 1-based line of a byte offset in `text`. */
export function lineAt(text: string, byteOffset: number): number {
  const prefix = Buffer.from(text).subarray(0, Math.max(0, byteOffset)).toString();
  return prefix.split('\n').length;
}

/** Byte range → the text between them. */
export function sliceBytes(text: string, start: number, end: number): string {
  return Buffer.from(text).subarray(start, end).toString();
}

/** Calls `visit` for every subquery (SubLink) reachable from `node` without entering it. */
export function forEachSubLink(node: Node, visit: (subselect: Node) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) forEachSubLink(item, visit);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'SubLink') visit((value as Node).subselect);
      else forEachSubLink(value, visit);
    }
  }
}

/** The conjuncts of a boolean expression: what must all hold for a row to pass. */
export function conjuncts(expr: Node | undefined): Node[] {
  if (!expr) return [];
  const [type, body] = unwrap(expr);
  if (type === 'BoolExpr' && body.boolop === 'AND_EXPR') return (body.args as Node[]).flatMap(conjuncts);
  return [expr];
}

/** A string constant, seen through casts: `'live'::execution_environment` → 'live'. */
export function constantString(expr: Node | undefined): string | undefined {
  const [type, body] = unwrap(expr);
  if (type === 'TypeCast') return constantString(body.arg);
  if (type === 'A_Const' && body.sval) return body.sval.sval as string;
  return undefined;
}

/** Sequence of statement nodes for WITH (CTE) queries: [name, query]. */
export function ctes(withClause: Node | undefined): [string, Node][] {
  return ((withClause?.ctes ?? []) as Node[]).map((cte) => [cte.CommonTableExpr.ctename as string, cte.CommonTableExpr.ctequery]);
}
