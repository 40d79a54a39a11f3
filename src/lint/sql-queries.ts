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

export function queryBlocks(text: string): QueryBlock[] {
  const headers = [...text.replace(/\r\n/g, '\n').matchAll(HEADER)];
  const normalized = text.replace(/\r\n/g, '\n');
  return headers.map((header, i) => {
    const start = header.index!;
    const end = headers[i + 1]?.index ?? normalized.length;
    // The header itself becomes blank lines: it is not SQL the parser needs to see.
    const headerText = header[0].replace(/[^\n]/g, ' ');
    const original = normalized.slice(start, end);
    const { sql, params } = replacePlaceholders(headerText + original.slice(header[0].length));
    return { name: header[1]!, line: normalized.slice(0, start).split('\n').length, sql, original, params };
  });
}

/** `:name` / `:name!` outside strings, quoted identifiers, comments and `::` casts → `$n`. */
export function replacePlaceholders(sql: string): { sql: string; params: Map<number, string> } {
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
      if (!numbers.has(name)) numbers.set(name, numbers.size + 1);
      out += `$${numbers.get(name)}`;
      i += param[0].length;
      continue;
    }
    out += sql[i];
    i += 1;
  }
  return { sql: out, params: new Map([...numbers].map(([name, n]) => [n, name])) };
}
