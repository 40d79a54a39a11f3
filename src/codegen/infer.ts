/**
 * Asks PostgreSQL for each query's parameter and result types, through pgtyped's type inference
 * (the statement is prepared, never run). An invalid query yields a located problem: pgtyped's
 * CLI would instead emit `never` types and exit 0.
 */
import { getTypes, startup, type IQueryTypes } from '@pgtyped/query';
import { getTypeData } from '@pgtyped/query/lib/actions.js';
import { processSQLQueryIR } from '@pgtyped/runtime';
import { AsyncQueue } from '@pgtyped/wire';
import type { ServerTarget } from '../server/connection-string.js';
import type { LoadedQuery, SqlFile } from './load-queries.js';
import { type CodegenProblem, locate } from './problems.js';

/** Where a result column comes from, as the server's RowDescription says (0, 0 for an expression). */
export interface ResultOrigin {
  tableOID: number;
  columnAttrNumber: number;
}

export interface TypedQuery extends LoadedQuery {
  types: IQueryTypes;
  /** One per result column, in order: which table column it is (ids are branded from this). */
  resultOrigins: ResultOrigin[];
}

export interface TypedFile extends Omit<SqlFile, 'queries'> {
  queries: TypedQuery[];
}

export async function inferTypes(
  server: ServerTarget,
  database: string,
  files: SqlFile[],
): Promise<{ files: TypedFile[]; problems: CodegenProblem[] }> {
  const queue = new AsyncQueue();
  await startup({ host: server.host, port: server.port, user: server.user, password: server.password, dbName: database }, queue);
  // Each query is several small round trips; with Nagle's algorithm each one waits ~40 ms for a delayed ACK.
  queue.socket.setNoDelay(true);
  const problems: CodegenProblem[] = [];
  const typed: TypedFile[] = [];
  try {
    for (const file of files) {
      const queries: TypedQuery[] = [];
      for (const query of file.queries) {
        const interpolated = processSQLQueryIR(query.ir);
        const types = await getTypes(interpolated, queue);
        if ('errorCode' in types) {
          const offset = originalOffset(query, Number(types.position ?? 1) - 1);
          const hint = types.hint ? ` (hint: ${types.hint})` : '';
          problems.push({
            path: file.path,
            query: query.name,
            message: `${types.message} [${types.errorCode}]${hint}`,
            ...locate(file.text, query.ast.statement.loc.a + offset),
          });
          continue;
        }
        const anonymous = types.returnTypes.find((column) => column.returnName === '?column?');
        if (anonymous) {
          problems.push({
            path: file.path,
            query: query.name,
            message: 'a result column has no name: give every expression an alias (AS "name")',
            ...locate(file.text, query.ast.statement.loc.a),
          });
          continue;
        }
        // getTypes keeps only names and types of the columns; the origins need the Describe itself.
        const described = await getTypeData(interpolated.query, queue);
        const resultOrigins = 'fields' in described
          ? described.fields.map(({ tableOID, columnAttrNumber }) => ({ tableOID, columnAttrNumber }))
          : [];
        queries.push({ ...query, types, resultOrigins });
      }
      typed.push({ ...file, queries });
    }
  } finally {
    queue.socket.end();
  }
  return { files: typed, problems };
}

/**
 * pgtyped sends the statement with `:name` replaced by `$n`; PostgreSQL reports positions in
 * that text. Map such a position back to the statement as written.
 */
function originalOffset(query: LoadedQuery, interpolatedOffset: number): number {
  const replacements = query.ir.params
    .flatMap((param, index) => param.locs.map((loc) => ({ ...loc, length: `$${index + 1}`.length })))
    .sort((left, right) => left.a - right.a);
  let shift = 0;
  for (const loc of replacements) {
    const start = loc.a + shift;
    if (interpolatedOffset < start) break;
    if (interpolatedOffset < start + loc.length) return loc.a;
    shift += loc.length - (loc.b - loc.a + 1);
  }
  return interpolatedOffset - shift;
}
