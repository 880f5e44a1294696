// A real SQLite storage file per test: a fresh temp dir before each test of the calling describe
// block, the storage closed and the dir removed after it. Register it before hooks that use `db`
// (vitest runs after-hooks in reverse order, so theirs run before the storage closes).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { SqliteStorage } from '../../server/storage/sqlite-storage.ts';

export interface SqliteEachTest {
  readonly db: SqliteStorage;
  readonly dir: string;
  /** The database file's path. */
  readonly file: string;
  /** Opens the same file again (after the test closed `db`); it is closed after the test. */
  reopen(): SqliteStorage;
}

export function sqliteStorageEachTest(prefix: string, name = 'server.sqlite'): SqliteEachTest {
  let dir = '';
  let db: SqliteStorage | null = null;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    db = new SqliteStorage(path.join(dir, name));
  });
  afterEach(async () => {
    await db?.close();
    db = null;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get db() {
      if (!db) throw new Error('sqliteStorageEachTest: db is only open inside a test');
      return db;
    },
    get dir() {
      return dir;
    },
    get file() {
      return path.join(dir, name);
    },
    reopen() {
      db = new SqliteStorage(path.join(dir, name));
      return db;
    },
  };
}
