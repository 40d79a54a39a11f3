import type { Finding } from '../lint/finding.js';

export function renderFinding(p: Finding): string {
  const at = p.file && !p.object.startsWith(`${p.file}:`) ? ` (\`${p.file}:${p.line}\`)` : '';
  return `- ${p.blocking ? '**blocking**' : 'advice'} ${p.rule} \`${p.object}\`${at}: ${p.message}${p.resolve ? ` — *Resolve:* ${p.resolve}` : ''}`;
}

/**
 * Where a finding is in the change: a `file:line` object is its own place; a query's is its
 * `@name` header; an object of the schema is the first line of the change's migrations naming
 * it (its most specific name first: the constraint before its table).
 */
export function locate(p: Finding, migrations: { path: string; text: string }[], sql: { path: string; text: string }[]): Finding {
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
