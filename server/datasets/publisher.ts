// DatasetPublisher: builds a signed dataset version from the tables when data changes (debounced)
// or on demand, stores manifest + chunks, keeps the newest N snapshots, builds the deltas from the
// previous `deltaBases` versions with each publish (in the same build job), and deltas from older
// kept versions on first request (then serves them from storage). Builds run one at a time; with
// `buildProcess` set they run in a child process (build-child.ts) so that a build over millions
// of cards never stalls the service's event loop (auth requests keep being answered).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFirmwareRelease } from '../../protocol/dataset/index.ts';
import type { DatasetContent, Route } from '../../protocol/dataset/types.ts';
import type { ServiceKeys } from '../keys.ts';
import type { Logger } from '../log.ts';
import type { DatasetVersionInfo, FirmwareInfo, Storage } from '../storage/storage.ts';
import { ServiceError, type ServiceErrorCode, SERVICE_ERROR_STATUS } from '../errors.ts';
import { readContent, runBuildJob, storedContent, type BuildJob, type BuildJobResult, type BuilderOptions } from './builder.ts';
import type { ChildRequest } from './build-child.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(HERE, 'build-child.ts');
const REPO_ROOT = path.resolve(HERE, '..', '..');

export interface PublisherOptions {
  now: () => number;
  ttlSeconds: number;
  debounceMs: number;
  keepVersions: number;
  chunkSize: number;
  historyWindowSeconds: number;
  maxEventsPerToken: number;
  /** Previous versions a publish builds deltas from (default 2); older bases are built on request. */
  deltaBases?: number;
  /** Run builds in a child process on the same data dir (the service sets this). */
  buildProcess?: { dataDir: string; databaseFile: string } | null;
}

export interface PublishResult {
  info: DatasetVersionInfo;
  /** False when the content was unchanged and the current version is still young. */
  created: boolean;
  buildMs: number;
  /** Deltas built with this version (from the previous kept versions). */
  deltas: { from: number; bytes: number; ms: number }[];
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

  private get builderOptions(): BuilderOptions {
    const o = this.opts;
    return {
      ttlSeconds: o.ttlSeconds,
      keepVersions: o.keepVersions,
      chunkSize: o.chunkSize,
      historyWindowSeconds: o.historyWindowSeconds,
      maxEventsPerToken: o.maxEventsPerToken,
      deltaBases: o.deltaBases ?? 2,
    };
  }

  async currentContent(): Promise<DatasetContent> {
    return readContent(this.storage, this.builderOptions, this.opts.now(), await this.routes());
  }

  /** Runs a build job here or in a child process. */
  private async execute(job: BuildJob): Promise<BuildJobResult> {
    const bp = this.opts.buildProcess;
    if (!bp) return runBuildJob(this.storage, this.keys, this.builderOptions, job);
    const request: ChildRequest = { dataDir: path.resolve(bp.dataDir), databaseFile: path.resolve(bp.databaseFile), options: this.builderOptions, job };
    return new Promise<BuildJobResult>((resolve, reject) => {
      // `--import tsx` resolves from the repository root, where tsx is installed.
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.once('error', (e) => reject(new ServiceError('INTERNAL', `dataset build process failed to start: ${e.message}`)));
      child.once('close', (code) => {
        const line = out.trim().split('\n').pop() ?? '';
        let msg: { ok?: BuildJobResult; error?: { code: string; message: string } } | null = null;
        try {
          msg = JSON.parse(line);
        } catch {
          msg = null;
        }
        if (msg?.ok && code === 0) return resolve(msg.ok);
        if (msg?.error) {
          const c = (msg.error.code in SERVICE_ERROR_STATUS ? msg.error.code : 'INTERNAL') as ServiceErrorCode;
          return reject(new ServiceError(c, msg.error.message));
        }
        reject(new ServiceError('INTERNAL', `dataset build process exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}`));
      });
      child.stdin.end(JSON.stringify(request));
    });
  }

  private async build(why: string, force: boolean): Promise<PublishResult> {
    if (this.closed) throw new ServiceError('UNAVAILABLE', 'service is shutting down');
    const t0 = performance.now();
    const r = await this.execute({ kind: 'snapshot', force, now: this.opts.now(), routes: await this.routes() });
    if (r.kind !== 'snapshot') throw new ServiceError('INTERNAL', 'unexpected build result');
    const result: PublishResult = { info: r.info, created: r.created, buildMs: performance.now() - t0, deltas: r.deltas };
    if (!r.created) return result;
    this.log.info(
      { version: r.info.version, why, restricted: r.restricted, history: r.history, bytes: r.info.bytes, chunks: r.info.chunkCount, pruned: r.pruned, deltas: r.deltas, ms: Math.round(result.buildMs), child: !!this.opts.buildProcess },
      'dataset published',
    );
    for (const l of this.listeners) l(result);
    return result;
  }

  /** Content of a stored version, checked against its own signed manifest. */
  async contentOf(version: number): Promise<DatasetContent | null> {
    return storedContent(this.storage, this.keys, version);
  }

  /**
   * The signed delta manifest from → to, built on first request. Throws DELTA_UNAVAILABLE when
   * either version is no longer (or not yet) kept: the client then takes the snapshot.
   */
  async delta(from: number, to: number): Promise<Uint8Array> {
    const cached = await this.storage.deltaManifest(from, to);
    if (cached) return cached;
    const run = this.chain.then(async () => {
      const t0 = performance.now();
      const r = await this.execute({ kind: 'delta', from, to });
      const bytes = await this.storage.deltaManifest(from, to);
      if (!bytes) throw new ServiceError('INTERNAL', 'delta was not stored');
      if (r.kind === 'delta' && r.chunks > 0) this.log.info({ from, to, bytes: r.bytes, chunks: r.chunks, ms: Math.round(performance.now() - t0) }, 'delta built');
      return bytes;
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
