/**
 * sql/ files as the PostgreSQL parser can read them: one block per `/* @name x *\/` header, with
 * pgtyped's `:name` / `:name!` placeholders turned into `$n` (the same n for the same name),
 * which keeps every line where it was so findings point at the right line.
 */

export interface QueryBlock {
  name: string;
  /** 1-based line of the block's first line (the header) in the file. */
  line: number;
  /** The block with placeholders replaced: valid SQL for the parser. */
  sql: string;
  /** The block as written, for annotations. */
  original: string;
  /** $n → pgtyped parameter name. */
  params: Map<number, string>;
}

const HEADER = /\/\*\s*@name\s+(\w+)[\s\S]*?\*\//g;

/**
 * pgtyped's parameter expansions, declared in the header (`@param ids -> (...)`,
 * `@param book -> (title, rank!)`, `@param books -> ((title!, rank)...)`): in the SQL the
 * parameter is written `:ids`, and stands for a parenthesised list.
 */
export type Expansion = { kind: 'spread' } | { kind: 'pick' | 'picks'; keys: string[] };

/** The expansions a query header declares. */
export function headerExpansions(header: string): Map<string, Expansion> {
  const expansions = new Map<string, Expansion>();
  for (const [, name, spec] of header.matchAll(/@param\s+(\w+)\s*->\s*(\(.*\))/g)) {
    const body = spec!.trim();
    if (/^\(\s*\.\.\.\s*\)$/.test(body)) expansions.set(name!, { kind: 'spread' });
    else {
      const picks = /^\(\s*\((.*)\)\s*\.\.\.\s*\)$/.exec(body);
      const keys = (picks ? picks[1]! : body.slice(1, -1)).split(',').map((key) => key.trim().replace(/!$/, '')).filter(Boolean);
      expansions.set(name!, { kind: picks ? 'picks' : 'pick', keys });
    }
  }
  return expansions;
}

export function queryBlocks(text: string): QueryBlock[] {
  const headers = [...text.replace(/\r\n/g, '\n').matchAll(HEADER)];
  const normalized = text.replace(/\r\n/g, '\n');
  return headers.map((header, i) => {
    const start = header.index!;
    const end = headers[i + 1]?.index ?? normalized.length;
    // The header itself becomes blank lines: it is not SQL the parser needs to see.
    const headerText = header[0].replace(/[^\n]/g, ' ');
    const original = normalized.slice(start, end);
    const { sql, params } = replacePlaceholders(headerText + original.slice(header[0].length), headerExpansions(header[0]));
    return { name: header[1]!, line: normalized.slice(0, start).split('\n').length, sql, original, params };
  });
}

/**
 * `:name` / `:name!` outside strings, quoted identifiers, comments and `::` casts → `$n`; an
 * expansion becomes what pgtyped sends for one element: `($n)` for a spread, `($n, $m)` for a
 * pick or one row of picks, each key a parameter of its own (`books.title`), so the statement
 * parses as PostgreSQL sees it.
 */
export function replacePlaceholders(sql: string, expansions: Map<string, Expansion> = new Map()): { sql: string; params: Map<number, string> } {
  const numbers = new Map<string, number>();
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i);
    const skipped = /^('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|(\$[A-Za-z_]*\$)[\s\S]*?\2|::)/.exec(rest);
    if (skipped) {
      out += skipped[0];
      i += skipped[0].length;
      continue;
    }
    const param = /^:([A-Za-z_]\w*)!?/.exec(rest);
    if (param) {
      const name = param[1]!;
      const number = (key: string) => {
        if (!numbers.has(key)) numbers.set(key, numbers.size + 1);
        return `$${numbers.get(key)}`;
      };
      const expansion = expansions.get(name);
      if (!expansion) out += number(name);
      else if (expansion.kind === 'spread') out += `(${number(name)})`;
      // A picked execution_environment is the scope's, bound into every row: the same parameter.
      else out += `(${expansion.keys.map((key) => number(key === 'execution_environment' ? key : `${name}.${key}`)).join(', ')})`;
      i += param[0].length;
      continue;
    }
    out += sql[i];
    i += 1;
  }
  return { sql: out, params: new Map([...numbers].map(([name, n]) => [n, name])) };
}
