/**
 * `Sql` over a `pg` Pool. Build it once per Lambda environment (module scope), never per invocation:
 * a warm environment then reuses its connections. Works with RDS, Aurora and RDS Proxy (see `searchPath`).
 */
import pg from 'pg';
import { ConfigError } from '../errors.js';
import { integerOption } from '../options.js';
import { type LoggerPort, silentLogger } from '../ports.js';
import type { Sql } from './sql.js';

export interface PgSqlOptions {
  /** `postgres://user:pass@host:5432/db`. Ignored fields may also come from `config`. */
  connectionString?: string;
  /** Extra `pg.PoolConfig` (ssl, password function for IAM auth…). The options below win over it. */
  config?: pg.PoolConfig;
  /**
   * Pool size. A Lambda environment serves one request at a time and no Lambda path opens a transaction,
   * so one connection per environment is enough, and it makes the database's connection count at most
   * the number of environments (the stack's budget arithmetic relies on it: docs/database.md). Queries
   * of one invocation then queue for it (bounded by `connectionTimeoutMs`).
   * @default 1
   */
  max?: number;
  /**
   * Close a connection unused this long. Must stay below the server's `idle_session_timeout` (when set),
   * so the pool, not the server, ends an idle connection and no query is sent on one the server closed.
   * 0 keeps idle connections forever.
   * @default 30000
   */
  idleTimeoutMs?: number;
  /**
   * Server-side `statement_timeout`, sent as a startup parameter (not `-c` options). 0 disables it; do
   * that behind a proxy that rejects startup parameters and set it with `ALTER ROLE … SET` instead.
   * @default 2000
   */
  statementTimeoutMs?: number;
  /**
   * Time to wait for a connection (new socket, startup and authentication, or a free pool slot) before
   * failing with `DATABASE_UNAVAILABLE`: a server that accepts TCP but never answers cannot hold a
   * function until its timeout. 0 waits forever (never in Lambda).
   * @default 3000
   */
  connectionTimeoutMs?: number;
  /**
   * `search_path` for every connection, e.g. a per-test schema. Sent as `-c search_path=…`, which RDS
   * Proxy refuses ("doesn't support command-line options"): leave unset in production.
   * @default undefined (the server's default, normally `"$user", public`)
   */
  searchPath?: string;
  /** Receives errors of idle connections (server restart, proxy idle timeout). @default silentLogger */
  logger?: LoggerPort;
}

/** The defaults of `createPgSql`, written once (infra's connection arithmetic reads `max`). */
export const PG_POOL_DEFAULTS = {
  max: 1,
  idleTimeoutMs: 30_000,
  statementTimeoutMs: 2_000,
  connectionTimeoutMs: 3_000,
} as const;

const SEARCH_PATH = /^[A-Za-z_][A-Za-z0-9_]*(,\s*[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Builds the pool-backed `Sql`. Throws `ConfigError` on invalid options; connects lazily. */
export function createPgSql(opts: PgSqlOptions): Sql {
  const max = opts.max ?? PG_POOL_DEFAULTS.max;
  const idleTimeoutMs = opts.idleTimeoutMs ?? PG_POOL_DEFAULTS.idleTimeoutMs;
  const statementTimeoutMs = opts.statementTimeoutMs ?? PG_POOL_DEFAULTS.statementTimeoutMs;
  const connectionTimeoutMs = opts.connectionTimeoutMs ?? PG_POOL_DEFAULTS.connectionTimeoutMs;
  const logger = opts.logger ?? silentLogger;
  integerOption('max', max, { min: 1 });
  integerOption('idleTimeoutMs', idleTimeoutMs, { min: 0 });
  integerOption('statementTimeoutMs', statementTimeoutMs, { min: 0 });
  integerOption('connectionTimeoutMs', connectionTimeoutMs, { min: 0 });
  if (opts.searchPath !== undefined && !SEARCH_PATH.test(opts.searchPath)) {
    throw new ConfigError('searchPath must be a comma-separated list of plain identifiers');
  }
  if (opts.connectionString === undefined && opts.config === undefined) {
    throw new ConfigError('createPgSql needs a connectionString or a config');
  }

  const pool = new pg.Pool({
    ...opts.config,
    ...(opts.connectionString === undefined ? {} : { connectionString: opts.connectionString }),
    max,
    idleTimeoutMillis: idleTimeoutMs,
    connectionTimeoutMillis: connectionTimeoutMs,
    ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {}),
    ...(opts.searchPath === undefined
      ? {}
      : { options: `-c search_path=${opts.searchPath.replace(/\s/g, '')}` }),
    keepAlive: true,
  });
  // Without a listener, an idle client's socket error (server restart, NAT/proxy idle cut) is an
  // unhandled 'error' event and kills the process. The pool already discards that client.
  pool.on('error', (error) => {
    logger.warn('idle PostgreSQL connection failed', { code: (error as { code?: string }).code });
  });

  let closed = false;
  return {
    query: (text, params) => runQuery(pool, text, params),
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn({ query: (text, params) => runQuery(client, text, params) });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection is unusable (socket gone): passing the error to release() destroys it
          // instead of handing a half-open transaction to the next caller.
          broken = rollbackError as Error;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

type PgRunner = Pick<pg.Pool | pg.PoolClient, 'query'>;

async function runQuery<R>(
  runner: PgRunner,
  text: string,
  params?: readonly unknown[],
): Promise<{ rows: R[] }> {
  if (params === undefined || params.length === 0) {
    // No values: pg uses the simple protocol, which accepts several statements and then returns one
    // result per statement. Keep the last one, as the port promises.
    const result = (await runner.query(text)) as pg.QueryResult | pg.QueryResult[];
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    return { rows: (last?.rows ?? []) as R[] };
  }
  const result = await runner.query(text, params as unknown[]);
  return { rows: result.rows as R[] };
}
