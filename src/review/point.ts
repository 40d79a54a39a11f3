/**
 * One thing the review tells a reviewer about what a change does to a guarantee: which object,
 * which guarantee (the rule), what is lost, and how to resolve it. A blocking point fails
 * `npm run review` (and `npm run check` for the invariants of the head schema).
 */
export interface Point {
  /** `guarantee/...`, `data/...`, `consumer/...`, `convention/...`. */
  rule: string;
  /** The object the point is about: `trades`, `trades_live.live_history_kept`, `sql/trades.sql:listTrades`. */
  object: string;
  /** What the change does, in words. */
  message: string;
  /** What a reviewer should check and how to resolve it (the declaration to call, the query to fix, the marker to add). */
  resolve: string;
  blocking: boolean;
  /** Where in the change it is (a migration's line, a query's header), when the review can tell: for annotations. */
  file?: string;
  line?: number;
}

export const point = (rule: string, object: string, message: string, resolve: string, blocking = true): Point => ({ rule, object, message, resolve, blocking });

export function renderPoint(p: Point): string {
  const at = p.file && !p.object.startsWith(`${p.file}:`) ? ` (\`${p.file}:${p.line}\`)` : '';
  return `- ${p.blocking ? '**blocking**' : 'advice'} ${p.rule} \`${p.object}\`${at}: ${p.message}${p.resolve ? ` — *Resolve:* ${p.resolve}` : ''}`;
}

/**
 * Where a point is in the change: a `file:line` object is its own place; a query's is its
 * `@name` header; an object of the schema is the first line of the change's migrations naming
 * it (its most specific name first: the constraint before its table).
 */
export function locate(p: Point, migrations: { path: string; text: string }[], sql: { path: string; text: string }[]): Point {
  const own = /^([\w./-]+\.sql):(\d+)$/.exec(p.object);
  if (own) return { ...p, file: own[1]!, line: Number(own[2]) };
  const query = /^(sql\/[\w.-]+\.sql):(\w+)$/.exec(p.object);
  if (query) {
    const file = sql.find((f) => f.path === query[1]);
    const line = file ? lineOf(file.text, new RegExp(`@name\\s+${query[2]}\\b`)) : undefined;
    return line ? { ...p, file: query[1]!, line } : p;
  }
  const words = [...p.object.matchAll(/[a-z_][a-z0-9_]*/gi)].map((m) => m[0]).reverse();
  for (const word of words) {
    for (const migration of migrations) {
      const line = lineOf(migration.text.replace(/--.*$/gm, ''), new RegExp(`\\b${word}\\b`, 'i'));
      if (line) return { ...p, file: migration.path, line };
    }
  }
  return p;
}

function lineOf(text: string, pattern: RegExp): number | undefined {
  const at = text.split('\n').findIndex((line) => pattern.test(line));
  return at < 0 ? undefined : at + 1;
}
