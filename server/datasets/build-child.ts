// Entry of the dataset build child process (DatasetPublisher runs the built build-child.js with
// plain node). It lives as long as the publisher: it reads one JSON request per line on stdin,
// opens the service's store once (the same SQLite file — WAL allows it next to the service — or
// the same PostgreSQL database) and the key files, runs each build, and writes one JSON line per
// request: {ok: result} or {error: {code, message}}. Between builds it keeps the newest versions
// in memory (BuildCache), so the next build costs what changed (builder.ts). End of stdin ends it.
import { createInterface } from 'node:readline';
import { loadOrCreateKeys, type ServiceKeys } from '../keys.ts';
import { openStorage, type StoreSpec } from '../storage/open.ts';
import { newBuildCache, runBuildJob, type BuildCache, type BuildJob, type BuilderOptions } from './builder.ts';

export interface ChildRequest {
  dataDir: string;
  /** The service's store: what `openStorage` opens. */
  store: StoreSpec;
  options: BuilderOptions;
  job: BuildJob;
}

type OpenStorage = Awaited<ReturnType<typeof openStorage>>;
let open: { key: string; storage: OpenStorage; keys: ServiceKeys; cache: BuildCache } | null = null;

async function session(req: ChildRequest): Promise<NonNullable<typeof open>> {
  const key = JSON.stringify([req.dataDir, req.store, req.options.deltaBases ?? 2]);
  if (open && open.key === key) return open;
  if (open) await open.storage.close(false);
  open = null;
  const storage = await openStorage(req.store, { pool: 2 });
  open = { key, storage, keys: loadOrCreateKeys(req.dataDir), cache: newBuildCache(req.options) };
  return open;
}

async function main(): Promise<void> {
  try {
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      if (!line.trim()) continue;
      try {
        const req = JSON.parse(line) as ChildRequest;
        const s = await session(req);
        const result = await runBuildJob(s.storage, s.keys, req.options, req.job, s.cache);
        process.stdout.write(`${JSON.stringify({ ok: result })}\n`);
      } catch (e) {
        const err = e as { code?: unknown; message?: unknown };
        // An answer about versions leaves the store as it was; anything else may be a broken
        // connection: the next request opens the store again (and indexes its versions anew).
        if (err?.code !== 'DELTA_UNAVAILABLE' && err?.code !== 'DATASET_NOT_FOUND' && open) {
          const o = open;
          open = null;
          await o.storage.close(false).catch(() => undefined);
        }
        process.stdout.write(`${JSON.stringify({ error: { code: typeof err?.code === 'string' ? err.code : 'INTERNAL', message: String(err?.message ?? e) } })}\n`);
      }
    }
  } finally {
    // A second process on the same SQLite file does not checkpoint: the owner does.
    await open?.storage.close(false);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error)?.stack ?? e)}\n`);
  process.exitCode = 1;
});
