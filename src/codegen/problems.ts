/** What is wrong with a query, located in its file, and printed like a compiler would. */

export interface CodegenProblem {
  path: string;
  query: string | undefined;
  message: string;
  line: number;
  column: number;
  /** The offending line of the file, for the code frame. */
  source: string;
}

export class CodegenError extends Error {
  override readonly name = 'CodegenError';
  constructor(readonly problems: CodegenProblem[]) {
    super(
      `${problems.length} invalid quer${problems.length === 1 ? 'y' : 'ies'}; generated/ was left unchanged.\n\n` +
        problems.map(formatProblem).join('\n\n'),
    );
  }
}

/** Line and column (1-based) of a character offset in a file. */
export function locate(text: string, offset: number): Pick<CodegenProblem, 'line' | 'column' | 'source'> {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEnd = text.indexOf('\n', lineStart);
  return {
    line,
    column: offset - lineStart + 1,
    source: text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd),
  };
}

export function formatProblem(problem: CodegenProblem): string {
  const gutter = String(problem.line).length;
  const query = problem.query ? ` query ${problem.query}:` : '';
  return [
    `${problem.path}:${problem.line}:${problem.column}${query} ${problem.message}`,
    `  ${problem.line} | ${problem.source}`,
    `  ${' '.repeat(gutter)} | ${' '.repeat(Math.max(0, problem.column - 1))}^`,
  ].join('\n');
}
