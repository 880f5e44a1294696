// The CPU-heavy half of publishing: read the tables, build + sign a snapshot or a delta, store it.
// Pure of timers and listeners so it can run either in the service process or in the build child
// (build-child.ts) that keeps a large build off the service's event loop.
//
// Incremental: the process that builds keeps the newest versions in memory (BuildCache, as
// DatasetIndex: packed token sections, each history entry with its encoding). A build reads the
// tables (the history only for cards that changed since the kept version's read:
// readDatasetTablesSince, on both backends; SQLite's also hands over the known-good section packed;
// the restricted section whole, and re-packed, and on PostgreSQL the known-good section too —
// which is why builds stay in the child process), keeps the kept version's entries of the
// unchanged cards as they are (DatasetIndex.buildNext: no step per unchanged card), re-encodes
// only the history entries that changed, splices
// the snapshot from the cached pieces, and builds its deltas by walking the kept versions' sorted
// sections against the new one; nothing is decoded back from storage. A version not in memory
// (first build of the process, or published by another instance) is indexed once from its stored
// payload, with the token sections kept packed (no object per card: the 10^7-card delta used to
// hold both versions as objects and ran out of heap). The bytes are those of a full build
// (test/protocol/dataset/dataset-index.test.ts).
import { assemble, buildDeltaFromPayload, buildSnapshotFromPayload, encodeDelta, joinChunks, openSignedManifest, sha256 } from '../../protocol/dataset/index.ts';
import { DatasetIndex, type IndexedHistory } from '../../protocol/dataset/dataset-index.ts';
import { RULES_VERSION } from '../../rules/decide.ts';
import type { DatasetContent, HistoryEntry } from '../../protocol/dataset/types.ts';
import { packTokens, tokenKey } from '../../protocol/dataset/codec.ts';
import type { DatasetRoutes } from './routes.ts';
import { ServiceError } from '../errors.ts';
import type { ServiceKeys } from '../keys.ts';
import type { DatasetVersionInfo, HistoryCursor, Storage } from '../storage/storage.ts';
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

/**
 * The versions the building process holds in memory: the newest `keep` it built or indexed. A
 * kept version is used only while its content hash is the stored one (another instance may have
 * published in between; then it is indexed from storage).
 */
export class BuildCache {
  private readonly kept = new Map<number, { hash: string; index: DatasetIndex; cursor: HistoryCursor | null }>();
  constructor(private readonly keep = 3) {}

  get(version: number, hashHex: string): DatasetIndex | null {
    const k = this.kept.get(version);
    return k && k.hash === hashHex ? k.index : null;
  }

  /** Where the read that built this version stood (null: indexed from storage, read the history whole). */
  cursor(version: number, hashHex: string): HistoryCursor | null {
    const k = this.kept.get(version);
    return k && k.hash === hashHex ? k.cursor : null;
  }

  put(version: number, hashHex: string, index: DatasetIndex, cursor: HistoryCursor | null = null): void {
    this.kept.set(version, { hash: hashHex, index, cursor });
    const versions = [...this.kept.keys()].sort((a, b) => b - a);
    for (const v of versions.slice(Math.max(1, this.keep))) this.kept.delete(v);
  }

  get versions(): number[] {
    return [...this.kept.keys()].sort((a, b) => a - b);
  }
}

/** A stored snapshot as a DatasetIndex, checked against its own signed manifest (null: not kept). */
export async function storedIndex(storage: Storage, keys: ServiceKeys, version: number): Promise<DatasetIndex | null> {
  const manifestBytes = await storage.datasetManifest(version);
  const chunks = await storage.datasetChunks(version);
  if (!manifestBytes || !chunks) return null;
  const manifest = openSignedManifest(manifestBytes, [keys.signingPublicKey]);
  if (manifest.kind !== 'snapshot') throw new ServiceError('INTERNAL', `version ${version} is not a snapshot`);
  const payload = joinChunks(manifest, chunks);
  if (payload.length !== manifest.size || Buffer.compare(sha256(payload), manifest.contentHash) !== 0) {
    throw new ServiceError('INTERNAL', `stored dataset version ${version} does not match its manifest`);
  }
  return DatasetIndex.fromPayload(payload);
}

/** A version from the cache, else indexed from storage (and kept when `keepIt`). */
async function indexOf(storage: Storage, keys: ServiceKeys, cache: BuildCache, info: DatasetVersionInfo, keepIt: boolean): Promise<DatasetIndex | null> {
  const hit = cache.get(info.version, info.contentHash);
  if (hit) return hit;
  const idx = await storedIndex(storage, keys, info.version);
  if (idx && keepIt) cache.put(info.version, info.contentHash, idx);
  return idx;
}

/** The cache of builds run in this process (the publisher's, when it builds in process). */
export function newBuildCache(o: BuilderOptions): BuildCache {
  return new BuildCache(Math.max(1, o.deltaBases ?? 2));
}

export async function runBuildJob(storage: Storage, keys: ServiceKeys, o: BuilderOptions, job: BuildJob, cache: BuildCache = newBuildCache(o)): Promise<BuildJobResult> {
  if (job.kind === 'delta') {
    const { from, to } = job;
    if (await storage.deltaManifest(from, to)) return { kind: 'delta', bytes: 0, chunks: 0 };
    if (from >= to) throw new ServiceError('DELTA_UNAVAILABLE', `no delta from version ${from} to ${to}: base must be older`);
    const versions = await storage.listDatasets();
    const fromInfo = versions.find((d) => d.version === from);
    const a = fromInfo ? await indexOf(storage, keys, cache, fromInfo, false) : null;
    if (!a) throw new ServiceError('DELTA_UNAVAILABLE', `version ${from} is too old for a delta; fetch the snapshot`);
    const info = versions.find((d) => d.version === to);
    const b = info ? await indexOf(storage, keys, cache, info, false) : null;
    if (!b || !info) throw new ServiceError('DATASET_NOT_FOUND', `dataset version ${to} not found`);
    const built = await storeDelta(storage, keys, o, a, b, from, info);
    return { kind: 'delta', bytes: built.bytes, chunks: built.chunks };
  }

  const latest = await storage.latestDataset();
  const prev = latest ? await indexOf(storage, keys, cache, latest, true) : null;
  // The tables' rows (one object per card) are dropped once indexed: only packed tokens stay.
  const { next, cursor } = await readNext(storage, o, job, prev, latest ? cache.cursor(latest.version, latest.contentHash) : null);
  const payload = next.encode();
  const version = Math.max(latest?.version ?? 0, Number((await storage.getMeta('dataset.lastVersion')) ?? 0)) + 1;
  const createdAt = Math.max(job.now, latest?.createdAt ?? 0);
  const built = buildSnapshotFromPayload(payload, { version, createdAt, expiresAt: createdAt + o.ttlSeconds, chunkSize: o.chunkSize, rulesVersion: RULES_VERSION }, keys.signingPrivateKey);
  const hashHex = Buffer.from(built.manifest.contentHash).toString('hex');
  const counts = { restricted: next.counts.restricted, history: next.counts.history };
  if (!job.force && latest && latest.contentHash === hashHex) {
    cache.put(latest.version, latest.contentHash, next, cursor); // same content, read further
    return { kind: 'snapshot', info: latest, created: false, pruned: [], deltas: [], ...counts };
  }
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
  // Deltas to the new version are built now, from the kept versions in memory, rather than on a
  // device's first request (at 10^6 cards that request used to wait ~24 s). Devices that synced
  // one of the last versions are the common case; older bases stay lazy.
  const deltas: { from: number; bytes: number; ms: number }[] = [];
  const bases = (await storage.listDatasets())
    .filter((d) => d.version < version)
    .sort((x, y) => y.version - x.version)
    .slice(0, Math.max(0, o.deltaBases ?? 2));
  for (const base of bases) {
    const t0 = performance.now();
    const idx = await indexOf(storage, keys, cache, base, true);
    if (!idx) continue;
    const d = await storeDelta(storage, keys, o, idx, next, base.version, info);
    deltas.push({ from: base.version, bytes: d.bytes, ms: Math.round(performance.now() - t0) });
  }
  cache.put(version, hashHex, next, cursor);
  return { kind: 'snapshot', info, created: true, pruned, deltas, ...counts };
}

/**
 * The next version's index. With a store that reads history incrementally and a cursor from the
 * build of `prev`, only the cards whose history changed are read; the others keep prev's entries.
 */
async function readNext(
  storage: Storage,
  o: BuilderOptions,
  job: { now: number; routes: DatasetRoutes },
  prev: DatasetIndex | null,
  cursor: HistoryCursor | null,
): Promise<{ next: DatasetIndex; cursor: HistoryCursor | null }> {
  if (!storage.readDatasetTablesSince) return { next: DatasetIndex.build(await readContent(storage, o, job.now, job.routes), prev), cursor: null };
  const t = await storage.readDatasetTablesSince(prev ? cursor : null, job.now, job.now - o.historyWindowSeconds, o.maxEventsPerToken);
  const content = contentFromTables(t, job.routes);
  if (t.changed !== null && prev) {
    // The common publish: a few cards changed. prev's indexed entries are kept as they are (no
    // lookup, comparison or encoding per unchanged card), the changed cards' entries merged in.
    // Known-good: packed by SQLite; PostgreSQL's rows packed here (sorted, checked as build() does).
    const knownGood = t.knownGoodPacked ?? packTokens(t.knownGood, 'knownGood');
    const changed = new Set(t.changed.map(tokenKey));
    const fresh = content.history.map((h) => ({ key: tokenKey(h.token), h })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const history: (IndexedHistory | HistoryEntry)[] = [];
    let j = 0;
    for (const p of prev.history) {
      while (j < fresh.length && fresh[j].key < p.key) history.push(fresh[j++].h);
      if (!changed.has(p.key)) history.push(p);
    }
    while (j < fresh.length) history.push(fresh[j++].h);
    return { next: DatasetIndex.buildNext(content, prev, history, knownGood), cursor: t.cursor };
  }
  if (t.knownGoodPacked) for (let i = 0; i < t.knownGoodPacked.length; i += 16) content.knownGood.push({ token: t.knownGoodPacked.slice(i, i + 16) });
  return { next: DatasetIndex.build(content, prev), cursor: t.cursor };
}

async function storeDelta(
  storage: Storage,
  keys: ServiceKeys,
  o: BuilderOptions,
  a: DatasetIndex,
  b: DatasetIndex,
  from: number,
  to: DatasetVersionInfo,
): Promise<{ bytes: number; chunks: number }> {
  const payload = encodeDelta(b.deltaFrom(a));
  const built = buildDeltaFromPayload(payload, Buffer.from(to.contentHash, 'hex'), { version: to.version, baseVersion: from, createdAt: to.createdAt, expiresAt: to.expiresAt, chunkSize: o.chunkSize, rulesVersion: RULES_VERSION }, keys.signingPrivateKey);
  await storage.saveDelta(from, to.version, { manifest: built.manifestBytes, chunks: built.chunks });
  return { bytes: built.manifest.size, chunks: built.chunks.length };
}
