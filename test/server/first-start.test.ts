// The first start on a store without a dataset: a big store's first build runs after the service
// listens (publishOnStartBlockingMaxRows), so an instance never waits minutes to listen — nor for
// another instance's build, which holds the PostgreSQL publish lock (PRECHECK_TEST_DATABASE_URL;
// without it this is skipped, saying so). Deterministic: the test holds the lock itself.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/start.ts';
import { PgStorage } from '../../server/storage/pg-storage.ts';
import { dropPgDatabase, freshPgDatabase } from '../../testkit/pg-database.ts';
import { until } from '../e2e/helpers/http.ts';

const PG_URL = process.env.PRECHECK_TEST_DATABASE_URL ?? '';

let server: RunningServer | null = null;
let holder: PgStorage | null = null;
let release: (() => void) | null = null;
let held: Promise<unknown> | null = null;
let db: string | null = null;
let dir: string | null = null;
afterEach(async () => {
  release?.();
  await held;
  await server?.close();
  await holder?.close();
  if (db) await dropPgDatabase(PG_URL, db);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  server = holder = release = held = db = dir = null;
});

const health = async (s: RunningServer) => (await (await fetch(`${s.url}/v1/health`)).json()) as { status: string; datasetVersion: number | null };

describe.skipIf(!PG_URL)('first start without a dataset (PostgreSQL)', () => {
  it('listens while another holder builds (publish lock held), then publishes the first dataset once the lock is free', async () => {
    db = await freshPgDatabase(PG_URL, 'precheck_first');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-first-'));
    holder = await PgStorage.open(db);
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    held = holder.withPublishLock(() => {
      locked();
      return new Promise<void>((r) => (release = r));
    });
    await isLocked;
    server = await startServer({ dataDir: dir, database: db, port: 0, logLevel: 'silent', publishOnStartBlockingMaxRows: 0, train: { schedule: null } });
    // Listening and healthy while the build waits for the lock: no dataset yet.
    expect(await health(server)).toMatchObject({ status: 'ok', datasetVersion: null });
    release!();
    await held;
    const h = await until(async () => {
      const x = await health(server!);
      return x.datasetVersion !== null ? x : null;
    }, 60_000, 'the first dataset');
    expect(h.datasetVersion).toBeGreaterThan(0);
  });
});

if (!PG_URL) {
  describe('first start without a dataset: PostgreSQL', () => {
    it.skip('skipped: no PostgreSQL available (set PRECHECK_TEST_DATABASE_URL; .ci/run starts one)', () => undefined);
  });
}

describe('first start without a dataset (SQLite)', () => {
  it('builds the first dataset before listening while the store is small', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-first-'));
    server = await startServer({ dataDir: dir, port: 0, logLevel: 'silent', train: { schedule: null } });
    expect((await health(server)).datasetVersion).toBeGreaterThan(0);
  });

  it('builds it after listening past publishOnStartBlockingMaxRows, and publishes it', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-first-'));
    server = await startServer({ dataDir: dir, port: 0, logLevel: 'silent', publishOnStartBlockingMaxRows: 0, train: { schedule: null } });
    const h = await until(async () => {
      const x = await health(server!);
      return x.datasetVersion !== null ? x : null;
    }, 60_000, 'the first dataset');
    expect(h.datasetVersion).toBeGreaterThan(0);
  });
});
