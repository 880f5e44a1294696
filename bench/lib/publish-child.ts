// Child of bench/dataset-pg.bench.ts: opens the service on a data dir and database, publishes one
// dataset version in this process (the build the service runs in its build child), and prints one
// JSON line: build time, size, deltas, resident memory before the build and the process's peak.
import { openService } from '../../server/service.ts';

const [dataDir, database] = process.argv.slice(2);
const svc = await openService({ dataDir, database, logLevel: 'warn', publishDebounceMs: -1, publishOnStart: false, buildInChild: false, train: { schedule: null } } as Parameters<typeof openService>[0]);
try {
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const r = await svc.publisher.publish('bench', true);
  const wallMs = performance.now() - t0;
  process.stdout.write(
    `${JSON.stringify({ version: r.info.version, bytes: r.info.bytes, chunks: r.info.chunkCount, buildMs: r.buildMs, wallMs, deltas: r.deltas, rssBefore, maxRss: process.resourceUsage().maxRSS * 1024 })}\n`,
  );
} finally {
  await svc.close();
}
