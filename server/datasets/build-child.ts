// Entry of a dataset build child process (DatasetPublisher runs the built build-child.js with plain node): reads
// one JSON job on stdin, opens the service's store (the same SQLite file — WAL allows it next to
// the service — or the same PostGreSQL database) and the key files, runs the build, and writes
// one JSON line: {ok: result} or {error: {code, message}}.
import { loadOrCreateKeys } from '../keys.ts';
import { openStorage, type StoreSpec } from '../storage/open.ts';
import { runBuildJob, type BuildJob, type BuilderOptions } from './builder.ts';

export interface ChildRequest {
  dataDir: string;
  /** The service's store: what `openStorage` opens. */
  store: StoreSpec;
  options: BuilderOptions;
  job: BuildJob;
}

async function main(): Promise<void> {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const req = JSON.parse(input) as ChildRequest;
  const storage = await openStorage(req.store, { pool: 2 });
  try {
    const keys = loadOrCreateKeys(req.dataDir);
    const result = await runBuildJob(storage, keys, req.options, req.job);
    process.stdout.write(`${JSON.stringify({ ok: result })}\n`);
  } finally {
    // A second process on the same SQLite file does not checkpoint: the owner does.
    await storage.close(false);
  }
}

main().catch((e: unknown) => {
  const err = e as { code?: unknown; message?: unknown };
  process.stdout.write(`${JSON.stringify({ error: { code: typeof err?.code === 'string' ? err.code : 'INTERNAL', message: String(err?.message ?? e) } })}\n`);
  process.exitCode = 1;
});
