import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../../device/store/database.ts';
import { MIGRATIONS } from '../../../device/store/schema.ts';
import { rmrf, tempDir } from './helpers.ts';
import fs from 'node:fs';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(rmrf));

describe('device database', () => {
  it('creates the schema with WAL and FULL sync, file mode 0600', () => {
    const dir = tempDir();
    dirs.push(dir);
    const db = openDatabase(dir);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    db.close();
    expect(fs.statSync(databasePath(dir)).mode & 0o777).toBe(0o600);
  });

  it('migrates an older database forward and keeps its rows', () => {
    const dir = tempDir();
    dirs.push(dir);
    const old = new Database(databasePath(dir));
    old.exec(MIGRATIONS[0]);
    old.pragma('user_version = 1');
    old.prepare(`INSERT INTO paired_host (public_key, name, paired_at) VALUES (?, 'desk', 1)`).run(Buffer.alloc(32, 1));
    old.close();
    const db = openDatabase(dir);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE name = 'filter_a'`).get()).toBeTruthy();
    expect(db.prepare(`SELECT name FROM paired_host`).get()).toEqual({ name: 'desk' });
    db.close();
  });

  it('refuses a database from newer firmware', () => {
    const dir = tempDir();
    dirs.push(dir);
    const db = new Database(databasePath(dir));
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expect(() => openDatabase(dir)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
  });
});
