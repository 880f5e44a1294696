// Opens the service's store from a spec: the SQLite file (embedded default, one service per file)
// or a PostgreSQL URL (several instances on one database). The service and its dataset build
// child open the store the same way.
import path from 'node:path';
import type { Storage } from './storage.ts';

export type StoreSpec = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** A `--database` value (or PRECHECK_DATABASE_URL): postgres:// or postgresql:// URL; else null. */
export function parseDatabaseUrl(v: string | null | undefined): StoreSpec | null {
  if (!v) return null;
  if (!/^postgres(ql)?:\/\//.test(v)) throw new RangeError('database must be a postgres:// or postgresql:// URL');
  try {
    new URL(v);
  } catch {
    throw new RangeError('database is not a valid URL');
  }
  return { kind: 'postgres', url: v };
}

export function sqliteSpec(dataDir: string): StoreSpec {
  return { kind: 'sqlite', file: path.resolve(dataDir, 'precheck.db') };
}

export async function openStorage(spec: StoreSpec, opts: { pool?: number } = {}): Promise<Storage & { close(checkpoint?: boolean): Promise<void> }> {
  if (spec.kind === 'postgres') {
    const { PgStorage } = await import('./pg-storage.ts');
    return PgStorage.open(spec.url, { max: opts.pool });
  }
  const { SqliteStorage } = await import('./sqlite-storage.ts');
  return new SqliteStorage(spec.file);
}

/** A URL without its password, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}
