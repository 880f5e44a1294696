// DatasetPublisher: builds a signed dataset version from the tables when data changes (debounced)
// or on demand, stores manifest + chunks, keeps the newest N snapshots, and builds deltas between
// kept versions on first request (then serves them from storage). Builds run one at a time.
import { assemble, buildDelta, buildFirmwareRelease, buildSnapshot, openSignedManifest } from '../../protocol/dataset/index.ts';
import type { DatasetContent, Route } from '../../protocol/dataset/types.ts';
import type { ServiceKeys } from '../keys.ts';
import type { Logger } from '../log.ts';
import type { DatasetVersionInfo, FirmwareInfo, Storage } from '../storage/storage.ts';
import { ServiceError } from '../errors.ts';
import { contentFromTables } from './content.ts';

export interface PublisherOptions {
  now: () => number;
  ttlSeconds: number;
  debounceMs: number;
  keepVersions: number;
  chunkSize: number;
  historyWindowSeconds: number;
  maxEventsPerToken: number;
}

export interface PublishResult {
  info: DatasetVersionInfo;
  /** False when the content was unchanged and the current version is still young. */
  created: boolean;
  buildMs: number;
}

export class DatasetPublisher {
  private timer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly listeners = new Set<(r: PublishResult) => void>();

  constructor(
    private readonly storage: Storage,
    private readonly keys: ServiceKeys,
    private readonly routes: () => Promise<Route[]>,
    private readonly opts: PublisherOptions,
    private readonly log: Logger,
  ) {
    // Re-publish before half the lifetime has passed, so devices never freeze on an expiring set.
    const every = Math.min(3600_000, Math.max(1000, (opts.ttlSeconds * 1000) / 4));
    this.refreshTimer = setInterval(() => void this.refreshIfAging(), every);
    this.refreshTimer.unref();
  }

  /** Called after any change to data that goes into datasets; rebuilds after the debounce. */
  notifyChanged(): void {
    if (this.closed || this.opts.debounceMs < 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.publish('debounced').catch((e) => this.log.error({ err: e }, 'dataset publish failed'));
    }, this.opts.debounceMs);
    this.timer.unref();
  }

  /** Observe every completed publish (tests wait on this instead of sleeping). */
  onPublished(fn: (r: PublishResult) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Builds now (after any build in flight). `force` publishes even when nothing changed. */
  publish(why: string, force = false): Promise<PublishResult> {
    const run = this.chain.then(() => this.build(why, force));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async refreshIfAging(): Promise<void> {
    const latest = await this.storage.latestDataset();
    if (latest && this.opts.now() >= latest.createdAt + this.opts.ttlSeconds / 2) {
      await this.publish('refresh', true).catch((e) => this.log.error({ err: e }, 'dataset refresh failed'));
    }
  }

  async currentContent(): Promise<DatasetContent> {
    const now = this.opts.now();
    const tables = await this.storage.readDatasetTables(now, now - this.opts.historyWindowSeconds, this.opts.maxEventsPerToken);
    return contentFromTables(tables, await this.routes());
  }

  private async build(why: string, force: boolean): Promise<PublishResult> {
    if (this.closed) throw new ServiceError('UNAVAILABLE', 'service is shutting down');
    const t0 = performance.now();
    const now = this.opts.now();
    const content = await this.currentContent();
    const latest = await this.storage.latestDataset();
    const version = Math.max(latest?.version ?? 0, Number((await this.storage.getMeta('dataset.lastVersion')) ?? 0)) + 1;
    const createdAt = Math.max(now, latest?.createdAt ?? 0);
    const built = buildSnapshot(
      content,
      { version, createdAt, expiresAt: createdAt + this.opts.ttlSeconds, chunkSize: this.opts.chunkSize },
      this.keys.signingPrivateKey,
    );
    const hashHex = Buffer.from(built.manifest.contentHash).toString('hex');
    if (!force && latest && latest.contentHash === hashHex) {
      return { info: latest, created: false, buildMs: performance.now() - t0 };
    }
    const info: DatasetVersionInfo = {
      version,
      createdAt,
      expiresAt: built.manifest.expiresAt,
      contentHash: hashHex,
      chunkCount: built.chunks.length,
      bytes: built.manifest.size,
    };
    await this.storage.saveDataset(info, { manifest: built.manifestBytes, chunks: built.chunks });
    await this.storage.setMeta('dataset.lastVersion', String(version));
    const pruned = await this.storage.pruneDatasets(this.opts.keepVersions);
    const result: PublishResult = { info, created: true, buildMs: performance.now() - t0 };
    this.log.info(
      { version, why, restricted: content.restricted.length, history: content.history.length, bytes: info.bytes, chunks: info.chunkCount, pruned, ms: Math.round(result.buildMs) },
      'dataset published',
    );
    for (const l of this.listeners) l(result);
    return result;
  }

  /** Content of a stored version, checked against its own signed manifest. */
  async contentOf(version: number): Promise<DatasetContent | null> {
    const manifestBytes = await this.storage.datasetManifest(version);
    const chunks = await this.storage.datasetChunks(version);
    if (!manifestBytes || !chunks) return null;
    const manifest = openSignedManifest(manifestBytes, [this.keys.signingPublicKey]);
    const a = assemble(manifest, chunks);
    if (a.kind !== 'snapshot') throw new ServiceError('INTERNAL', `version ${version} is not a snapshot`);
    return a.content;
  }

  /**
   * The signed delta manifest from → to, built on first request. Throws DELTA_UNAVAILABLE when
   * either version is no longer (or not yet) kept: the client then takes the snapshot.
   */
  async delta(from: number, to: number): Promise<Uint8Array> {
    const cached = await this.storage.deltaManifest(from, to);
    if (cached) return cached;
    const run = this.chain.then(async () => {
      const again = await this.storage.deltaManifest(from, to);
      if (again) return again;
      if (from >= to) throw new ServiceError('DELTA_UNAVAILABLE', `no delta from version ${from} to ${to}: base must be older`);
      const [a, b] = [await this.contentOf(from), await this.contentOf(to)];
      if (!a) throw new ServiceError('DELTA_UNAVAILABLE', `version ${from} is too old for a delta; fetch the snapshot`);
      if (!b) throw new ServiceError('DATASET_NOT_FOUND', `dataset version ${to} not found`);
      const info = (await this.storage.listDatasets()).find((d) => d.version === to)!;
      const built = buildDelta(
        a,
        b,
        { version: to, baseVersion: from, createdAt: info.createdAt, expiresAt: info.expiresAt, chunkSize: this.opts.chunkSize },
        this.keys.signingPrivateKey,
      );
      await this.storage.saveDelta(from, to, { manifest: built.manifestBytes, chunks: built.chunks });
      this.log.info({ from, to, bytes: built.manifest.size, chunks: built.chunks.length }, 'delta built');
      return built.manifestBytes;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Signs and stores a firmware image (version: u32, strictly above the latest). */
  async publishFirmware(image: Uint8Array, version: number, name: string | null): Promise<FirmwareInfo> {
    const latest = await this.storage.latestFirmware();
    if (latest && version <= latest.version) {
      throw new ServiceError('CONFLICT', `firmware version must be above the latest (${latest.version})`);
    }
    const createdAt = this.opts.now();
    const built = buildFirmwareRelease(image, { version, createdAt, chunkSize: this.opts.chunkSize }, this.keys.signingPrivateKey);
    const info: FirmwareInfo = { version, name, createdAt, chunkCount: built.chunks.length, bytes: image.length };
    await this.storage.saveFirmware(info, { manifest: built.manifestBytes, chunks: built.chunks });
    this.log.info({ version, name, bytes: image.length }, 'firmware published');
    return info;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.chain;
  }
}
