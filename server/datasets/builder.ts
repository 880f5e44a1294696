// The CPU-heavy half of publishing: read the tables, build + sign a snapshot or a delta, store it.
// Pure of timers and listeners so it can run either in the service process or in a build child
// (build-child.ts) that keeps a large build off the service's event loop.
import { assemble, buildDelta, buildSnapshot, openSignedManifest } from '../../protocol/dataset/index.ts';
import { RULES_VERSION } from '../../rules/decide.ts';
import type { DatasetContent } from '../../protocol/dataset/types.ts';
import type { DatasetRoutes } from './routes.ts';
import { ServiceError } from '../errors.ts';
import type { ServiceKeys } from '../keys.ts';
import type { DatasetVersionInfo, Storage } from '../storage/storage.ts';
import { contentFromTables } from './content.ts';

export interface BuilderOptions {
  ttlSeconds: number;
  keepVersions: number;
  chunkSize: number;
  historyWindowSeconds: number;
  maxEventsPerToken: number;
  /**
   * Deltas built with each published snapshot, from this many previous kept versions (newest
   * first); default 2. Older bases are still built on first request (and then stored).
   */
  deltaBases?: number;
}

export type BuildJob =
  | { kind: 'snapshot'; force: boolean; now: number; routes: DatasetRoutes }
  | { kind: 'delta'; from: number; to: number };

export type BuildJobResult =
  | {
      kind: 'snapshot';
      info: DatasetVersionInfo;
      created: boolean;
      restricted: number;
      history: number;
      pruned: number[];
      /** Deltas built with this version: base version, size, build time. */
      deltas: { from: number; bytes: number; ms: number }[];
    }
  | { kind: 'delta'; bytes: number; chunks: number };

export async function readContent(storage: Storage, o: BuilderOptions, now: number, routes: DatasetRoutes): Promise<DatasetContent> {
  const tables = await storage.readDatasetTables(now, now - o.historyWindowSeconds, o.maxEventsPerToken);
  return contentFromTables(tables, routes);
}

/** Content of a stored version, checked against its own signed manifest. */
export async function storedContent(storage: Storage, keys: ServiceKeys, version: number): Promise<DatasetContent | null> {
  const manifestBytes = await storage.datasetManifest(version);
  const chunks = await storage.datasetChunks(version);
  if (!manifestBytes || !chunks) return null;
  const manifest = openSignedManifest(manifestBytes, [keys.signingPublicKey]);
  const a = assemble(manifest, chunks);
  if (a.kind !== 'snapshot') throw new ServiceError('INTERNAL', `version ${version} is not a snapshot`);
  return a.content;
}

export async function runBuildJob(storage: Storage, keys: ServiceKeys, o: BuilderOptions, job: BuildJob): Promise<BuildJobResult> {
  if (job.kind === 'delta') {
    const { from, to } = job;
    if (await storage.deltaManifest(from, to)) return { kind: 'delta', bytes: 0, chunks: 0 };
    if (from >= to) throw new ServiceError('DELTA_UNAVAILABLE', `no delta from version ${from} to ${to}: base must be older`);
    const a = await storedContent(storage, keys, from);
    if (!a) throw new ServiceError('DELTA_UNAVAILABLE', `version ${from} is too old for a delta; fetch the snapshot`);
    const b = await storedContent(storage, keys, to);
    if (!b) throw new ServiceError('DATASET_NOT_FOUND', `dataset version ${to} not found`);
    const info = (await storage.listDatasets()).find((d) => d.version === to)!;
    const built = await storeDelta(storage, keys, o, a, b, from, info);
    return { kind: 'delta', bytes: built.bytes, chunks: built.chunks };
  }

  const content = await readContent(storage, o, job.now, job.routes);
  const latest = await storage.latestDataset();
  const version = Math.max(latest?.version ?? 0, Number((await storage.getMeta('dataset.lastVersion')) ?? 0)) + 1;
  const createdAt = Math.max(job.now, latest?.createdAt ?? 0);
  const built = buildSnapshot(content, { version, createdAt, expiresAt: createdAt + o.ttlSeconds, chunkSize: o.chunkSize, rulesVersion: RULES_VERSION }, keys.signingPrivateKey);
  const hashHex = Buffer.from(built.manifest.contentHash).toString('hex');
  const counts = { restricted: content.restricted.length, history: content.history.length };
  if (!job.force && latest && latest.contentHash === hashHex) return { kind: 'snapshot', info: latest, created: false, pruned: [], deltas: [], ...counts };
  const info: DatasetVersionInfo = {
    version,
    createdAt,
    expiresAt: built.manifest.expiresAt,
    contentHash: hashHex,
    chunkCount: built.chunks.length,
    bytes: built.manifest.size,
  };
  await storage.saveDataset(info, { manifest: built.manifestBytes, chunks: built.chunks });
  await storage.setMeta('dataset.lastVersion', String(version));
  const pruned = await storage.pruneDatasets(o.keepVersions);
  // Deltas to the new version are built now, with the new content still in memory, rather than
  // on a device's first request (at 10^6 cards that request used to wait ~24 s). Devices that
  // synced one of the last versions are the common case; older bases stay lazy.
  const deltas: { from: number; bytes: number; ms: number }[] = [];
  const bases = (await storage.listDatasets())
    .map((d) => d.version)
    .filter((v) => v < version)
    .sort((x, y) => y - x)
    .slice(0, Math.max(0, o.deltaBases ?? 2));
  for (const from of bases) {
    const t0 = performance.now();
    const base = await storedContent(storage, keys, from);
    if (!base) continue;
    const built = await storeDelta(storage, keys, o, base, content, from, info);
    deltas.push({ from, bytes: built.bytes, ms: Math.round(performance.now() - t0) });
  }
  return { kind: 'snapshot', info, created: true, pruned, deltas, ...counts };
}

async function storeDelta(
  storage: Storage,
  keys: ServiceKeys,
  o: BuilderOptions,
  a: DatasetContent,
  b: DatasetContent,
  from: number,
  to: DatasetVersionInfo,
): Promise<{ bytes: number; chunks: number }> {
  const built = buildDelta(a, b, { version: to.version, baseVersion: from, createdAt: to.createdAt, expiresAt: to.expiresAt, chunkSize: o.chunkSize, rulesVersion: RULES_VERSION }, keys.signingPrivateKey);
  await storage.saveDelta(from, to.version, { manifest: built.manifestBytes, chunks: built.chunks });
  return { bytes: built.manifest.size, chunks: built.chunks.length };
}
