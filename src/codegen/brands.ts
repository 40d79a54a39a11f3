/**
 * Which parameters and result columns of a query are ids or business keys of a tagged table,
 * from the catalog (src/environment/model.ts), never from their names: a result column by the
 * table column the server says it comes from, a parameter by the columns the statement
 * compares it with or writes it to.
 */
import { processSQLQueryIR } from '@pgtyped/runtime';
import type { EnvironmentModel, Identity } from '../environment/model.js';
import { parseStatements } from '../parser/pg-ast.js';
import type { TypedQuery } from './infer.js';
// The one import to swap for environment-binding's analyseQuery(...).paramColumns when it lands.
import { paramColumns, resultColumns } from './param-provenance.js';

export interface QueryBrands {
  /** Parameter name → what it identifies. */
  params: Map<string, Identity>;
  /** Result column index → what it identifies. */
  results: (Identity | undefined)[];
  /** Parameter name → the `table.column`s it is compared with or written to (for column overrides). */
  columns: Map<string, string[]>;
}

/** Needs the parser loaded (`await parserReady()`). */
export function queryBrands(query: TypedQuery, model: EnvironmentModel): QueryBrands {
  const results = query.resultOrigins.map(({ tableOID, columnAttrNumber }) =>
    tableOID && columnAttrNumber > 0 ? model.identifyAttribute(tableOID, columnAttrNumber) : undefined,
  );

  const interpolated = processSQLQueryIR(query.ir);
  const paramNames = new Map<number, string>();
  for (const param of interpolated.mapping) {
    if ('assignedIndex' in param && typeof param.assignedIndex === 'number') paramNames.set(param.assignedIndex, param.name);
    // A picked field (`:fills((position_id, ...)...)`) is `fills.position_id`.
    if ('dict' in param && param.dict) {
      for (const key of Object.values(param.dict)) paramNames.set(key.assignedIndex, `${param.name}.${key.name}`);
    }
  }
  const [statement] = parseStatements(interpolated.query);
  // A column the server reports no origin for, that carries a table column's values (array_agg(t.position_id)).
  if (statement) {
    resultColumns(statement.stmt).forEach((column, index) => {
      if (column && !results[index] && index < results.length) results[index] = model.identifyColumn(column.table, column.column);
    });
  }
  const params = new Map<string, Identity>();
  const columnsOf = new Map<string, string[]>();
  if (statement) {
    for (const [name, columns] of paramColumns(statement.stmt, paramNames)) {
      columnsOf.set(name, columns.map((column) => `${column.table}.${column.column}`));
      // Branded only when every use agrees: a parameter compared with a position id and with
      // something else is not known to be a position id.
      const identities = columns.map((column) => model.identifyColumn(column.table, column.column));
      const [first] = identities;
      if (first && identities.every((identity) => identity?.table === first.table && identity.kind === first.kind)) params.set(name, first);
    }
  }
  return { params, results, columns: columnsOf };
}
