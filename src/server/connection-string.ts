/** Connection targets, and how they are shown to people (never with the password). */

export interface ServerTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Where this server came from, for messages: "DATABASE_URL", "embedded", ... */
  origin: string;
}

export function connectionString(server: ServerTarget, database: string): string {
  const auth = `${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}`;
  return `postgres://${auth}@${server.host}:${server.port}/${encodeURIComponent(database)}`;
}

/** host:port/database, the way every message names a database. */
export function describeDatabase(server: Pick<ServerTarget, 'host' | 'port'>, database: string): string {
  return `${server.host}:${server.port}/${database}`;
}

/** Parses a postgres:// URL; the error names the variable, never the URL (it holds a password). */
export function parseConnectionString(url: string, origin: string): { server: ServerTarget; database: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${origin} is not a valid URL. Expected postgres://user:password@host:port/database.`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`${origin} must start with postgres:// (got ${parsed.protocol}//).`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`${origin} names no database. Expected postgres://user:password@host:port/database.`);
  return {
    server: {
      host: parsed.hostname || 'localhost',
      port: parsed.port ? Number(parsed.port) : 5432,
      user: decodeURIComponent(parsed.username) || 'postgres',
      password: decodeURIComponent(parsed.password),
      origin,
    },
    database,
  };
}

/** Removes passwords from any text that may quote a connection string (error messages, logs). */
export function redact(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
}
