// The device database: one SQLite file (better-sqlite3) under the data dir.
//
// journal_mode=WAL: readers (verifications) never wait for a writer (a dataset being installed).
// synchronous=FULL: a commit is on stable storage before the device answers SYNC_DONE / FW_DONE,
// so power loss can never undo an acknowledged dataset switch or a stored chunk. With WAL,
// NORMAL could lose the last commits on power loss; the links (RS485 at 115200 baud moves a
// 4 kB chunk in ~0.4 s, USB HID full speed in ~65 ms) are far slower than an fsync, so FULL costs
// nothing noticeable. Verification journal rows are batched (journal.ts), so verifications do
// not pay an fsync each.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import { MIGRATIONS } from './schema.ts';

export type Db = Database.Database;

export function databasePath(dataDir: string): string {
  return path.join(dataDir, 'device.db');
}

export function openDatabase(dataDir: string): Db {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = databasePath(dataDir);
  let db: Db;
  try {
    db = new Database(file);
  } catch (e) {
    throw asProtocolError(e, 'INTERNAL');
  }
  try {
    fs.chmodSync(file, 0o600);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (e) {
    db.close();
    throw asProtocolError(e, 'INTERNAL');
  }
  return db;
}

/** Apply the migrations newer than PRAGMA user_version, each in its own transaction. */
export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new ProtocolError('UNSUPPORTED', `database schema v${current} is newer than this firmware (v${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
