/**
 * ADR-107's words, defined once: the environments, the columns that carry them, the roles, and
 * the registry of tagged tables (precog_environment_tables, written by the declaration in
 * db/framework). Every reader (codegen, scopes, lint, review, checks, tests) takes them from here.
 */

/** The column every tagged table has. */
export const ENVIRONMENT_COLUMN = 'execution_environment';
/** The column that files a backtest row under its run. */
export const RUN_COLUMN = 'backtest_run_id';
/** The values of the execution_environment enum, in its order (readEnvironments() reads them from a database). */
export const ENVIRONMENTS = ['live', 'paper', 'backtest'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];
/** The declaration, and the registry it writes. */
export const DECLARATION = 'precog_environment_table';
export const REGISTRY = 'precog_environment_tables';
/** The roles: one per environment, the read-only analyst, and the writer of the shared tables. */
export const environmentRole = (environment: string): string => `precog_${environment}`;
export const ANALYST_ROLE = 'precog_analyst';
export const INGEST_ROLE = 'precog_ingest';

/** What the readers need of a connection: a pg client or pool, or the runtime's Queryable. */
type Client = { query(config: { text: string }): Promise<{ rows: any[] }> };

/** A row of the registry: a tagged table as it was declared. */
export interface Declaration {
  table_name: string;
  kind: 'append_only' | 'versioned' | 'mutable';
  business_key: string[];
  mutable_columns: string[];
  current_column: string | null;
  end_column: string | null;
}

/**
 * The registry, by table name; undefined when the schema has none yet (before migration 000010),
 * which the code generator tells apart from an empty registry (without one, it infers business keys).
 * The only query of precog_environment_tables in src/.
 */
export async function readRegistry(client: Client): Promise<Declaration[] | undefined> {
  const exists = await client.query({ text: `SELECT to_regclass('public.${REGISTRY}') IS NOT NULL AS ok` });
  if (!exists.rows[0].ok) return undefined;
  const { rows } = await client.query({
    text: `SELECT table_name, kind, business_key::text[] AS business_key, mutable_columns::text[] AS mutable_columns, current_column, end_column
             FROM public.${REGISTRY} ORDER BY table_name`,
  });
  return rows as Declaration[];
}

/** The registry, by table name; empty when the schema has none yet (before migration 000010). */
export async function readDeclarations(client: Client): Promise<Declaration[]> {
  return (await readRegistry(client)) ?? [];
}

/** The labels of the execution_environment enum, in order, as the database has them. */
export async function readEnvironments(client: Client): Promise<string[]> {
  const { rows } = await client.query({
    text: `SELECT e.enumlabel AS label FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
            WHERE t.typname = 'execution_environment' AND t.typnamespace = 'public'::regnamespace ORDER BY e.enumsortorder`,
  });
  return rows.map((r: { label: string }) => r.label);
}
