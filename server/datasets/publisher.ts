// DatasetPublisher: builds a signed dataset version from the tables when data changes (debounced,
// with a maximum delay so steady traffic cannot postpone a publish forever) or on demand, stores manifest + chunks, keeps the newest N snapshots, builds the deltas from the
// previous `deltaBases` versions with each publish (in the same build job), and deltas from older
// kept versions on first request (then serves them from storage). Builds run one at a time; with
// `buildProcess` set they run in a child process (build-child.ts) so that a build over millions
// of cards never stalls the service's event loop (auth requests keep being answered). The child
// lives as long as the publisher and keeps the newest versions in memory, so a publish costs what
// changed (builder.ts); if it dies, the next build starts a new one (which indexes the stored
// versions once).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import path from 'node:path';
import { buildFirmwareRelease } from '../../protocol/dataset/index.ts';
import type { DatasetContent } from '../../protocol/dataset/types.ts';
import type { DatasetRoutes } from './routes.ts';
import type { ServiceKeys } from '../keys.ts';
import type { Logger } from '../log.ts';
import type { DatasetVersionInfo, FirmwareInfo, Storage } from '../storage/storage.ts';
import { ServiceError, type ServiceErrorCode, SERVICE_ERROR_STATUS } from '../errors.ts';
import { newBuildCache, readContent, runBuildJob, storedContent, type BuildCache, type BuildJob, type BuildJobResult, type BuilderOptions } from './builder.ts';
import type { ChildRequest } from './build-child.ts';
import type { StoreSpec } from '../storage/open.ts';
import { builtFile } from '../../runtime/built.ts';
import { checkNowMs, realTimerClock, toUnixSeconds, type NowMs, type TimerClock } from '../../runtime/clock.ts';

// Plain node runs the built child (next to this module in dist/): no loader, no repository root.
const CHILD = builtFile('server/datasets/build-child.js');

/** Milliseconds clock and timers; tests inject a manual one to drive the schedule. */
export type PublishClock = TimerClock;

/** What /v1/health and /metrics show about the publisher. */
export interface PublisherStatus {
  /** Age of the oldest data change not yet in a published dataset (null: none pending). */
  oldestUnpublishedChangeAgeMs: number | null;
  building: boolean;
  /** Datasets created by this process (identical-content builds not counted). */
  published: number;
  /** Completed snapshot builds (created or not) and failed ones. */
  builds: number;
  failures: number;
  /** Duration of the last snapshot build. */
  lastBuildMs: number | null;
}

export interface PublisherOptions {
  /** Wall clock, ms (runtime/clock.ts); dataset createdAt/expiresAt are Unix seconds. */
  now: NowMs;
  ttlSeconds: number;
  /** Quiet time after the last change before a rebuild; <0 disables change-driven builds. */
  debounceMs: number;
  /**
   * `publish.maxDelay`: a change is in a published dataset within this long however steady the
   * traffic (the debounce never postpones a build past it). Default 10 s.
   */
  maxDelayMs?: number;
  /** Clock and timers of the schedule (default: the real ones). */
  clock?: PublishClock;
  /** Runs a build job (default: runBuildJob here or in a child); tests wrap it to watch builds. */
  runJob?: (job: BuildJob, run: (job: BuildJob) => Promise<BuildJobResult>) => Promise<BuildJobResult>;
  keepVersions: number;
  chunkSize: number;
  historyWindowSeconds: number;
  maxEventsPerToken: number;
  /** Previous versions a publish builds deltas from (default 2); older bases are built on request. */
  deltaBases?: number;
  /** Run builds in a child process on the same data dir (the service sets this). */
  buildProcess?: { dataDir: string; store: StoreSpec } | null;
  /**
   * Several instances on one database (storage/pg-coordinator.ts): only the one that
   * `isPublisher()` runs the scheduled builds (changes, refresh); the others `forward()` their
   * changes to it. Explicit publishes run anywhere. Absent: this process is the only publisher.
   */
  coordination?: { isPublisher(): boolean; forward(): void } | null;
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
  private timer: unknown = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly listeners = new Set<(r: PublishResult) => void>();
  private readonly clock: PublishClock;
  // The schedule. A change is "pending" until a snapshot build starts after it, then "in flight"
  // until that build ends; a change during a build stays pending and gets exactly one follow-up.
  private pendingSince: number | null = null;
  private lastChangeAt = 0;
  private inFlightSince: number | null = null;
  /** Jobs (snapshots and deltas) queued or running on the chain: a timer never starts a second one. */
  private jobs = 0;
  /** After failed builds, pending changes wait (doubling, at most a minute) instead of spinning. */
  private failuresInRow = 0;
  private retryNotBefore = 0;
  private readonly stats = { published: 0, builds: 0, failures: 0, lastBuildMs: null as number | null };
  /** Versions kept in memory by in-process builds (the child keeps its own). */
  private cache: BuildCache | null = null;
  /** The build child (buildProcess): one job at a time (the chain), answers one JSON line each. */
  private child: { proc: ChildProcessWithoutNullStreams; out: string; err: string; waiting: ((line: string | null) => void) | null } | null = null;

  constructor(
    private readonly storage: Storage,
    private readonly keys: ServiceKeys,
    private readonly routes: () => Promise<DatasetRoutes>,
    private readonly opts: PublisherOptions,
    private readonly log: Logger,
  ) {
    this.clock = opts.clock ?? realTimerClock;
    checkNowMs(opts.now, 'PublisherOptions.now');
    // Re-publish before half the lifetime has passed, so devices never freeze on an expiring set.
    const every = Math.min(3600_000, Math.max(1000, (opts.ttlSeconds * 1000) / 4));
    this.refreshTimer = setInterval(() => void this.refreshIfAging(), every);
    this.refreshTimer.unref();
  }

  /**
   * Called after any change to data that goes into datasets. Builds once the changes have been
   * quiet for `debounceMs`, or when the oldest pending change would otherwise miss `maxDelayMs`,
   * whichever comes first; never while another build runs (the follow-up starts after it).
   */
  notifyChanged(): void {
    if (this.closed || this.opts.debounceMs < 0) return;
    if (this.forwarded()) return;
    const now = this.clock.nowMs();
    this.pendingSince ??= now;
    this.lastChangeAt = now;
    this.schedule();
  }

  /** When the pending changes must start building: quiet for the debounce, or at the latest
   * maxDelay after the oldest, less the last build's duration (so the publish itself lands in
   * time when builds take as long as the last one). */
  private dueAt(): number | null {
    if (this.pendingSince === null) return null;
    const maxDelay = Math.max(0, this.opts.maxDelayMs ?? 10_000);
    const latest = this.pendingSince + Math.max(0, maxDelay - (this.stats.lastBuildMs ?? 0));
    return Math.max(this.retryNotBefore, Math.min(this.lastChangeAt + Math.max(0, this.opts.debounceMs), latest));
  }

  /** Not the publisher among several instances: pending changes go to the one that is. */
  private forwarded(): boolean {
    const c = this.opts.coordination;
    if (!c || c.isPublisher()) return false;
    this.pendingSince = null;
    c.forward();
    return true;
  }

  private schedule(): void {
    if (this.timer !== null) {
      this.clock.clearTimer(this.timer);
      this.timer = null;
    }
    const due = this.dueAt();
    // A job on the chain reschedules when it ends (see track()); starting here would only queue.
    if (due === null || this.closed || this.jobs > 0) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      if (this.jobs > 0 || this.pendingSince === null) return;
      if (this.forwarded()) return; // the role moved to another instance meanwhile
      this.publish('debounced').catch((e) => this.log.error({ err: e }, 'dataset publish failed'));
    }, Math.max(0, due - this.clock.nowMs()));
  }

  /** Age of the oldest change not yet in a published dataset, and build counters. */
  status(): PublisherStatus {
    const since = [this.pendingSince, this.inFlightSince].filter((x): x is number => x !== null);
    return {
      oldestUnpublishedChangeAgeMs: since.length ? Math.max(0, this.clock.nowMs() - Math.min(...since)) : null,
      building: this.inFlightSince !== null || this.jobs > 0,
      ...this.stats,
    };
  }

  /** Puts a job on the one chain (builds never overlap) and reschedules pending changes after it. */
  private track<T>(fn: () => Promise<T>): Promise<T> {
    this.jobs++;
    if (this.timer !== null) {
      this.clock.clearTimer(this.timer);
      this.timer = null;
    }
    const run = this.chain.then(fn).finally(() => {
      this.jobs--;
      this.schedule();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The running build child (buildProcess), null when none runs; tests watch it. */
  get buildChild(): ChildProcessWithoutNullStreams | null {
    return this.child?.proc ?? null;
  }

  /** Resolves once no build is queued or running (the market simulator waits here on its clock). */
  async idle(): Promise<void> {
    while (this.jobs > 0) await this.chain;
  }

  /** Observe every completed publish (tests wait on this instead of sleeping). */
  onPublished(fn: (r: PublishResult) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Builds now (after any build in flight). `force` publishes even when nothing changed. */
  publish(why: string, force = false): Promise<PublishResult> {
    return this.track(() => this.build(why, force));
  }

  private async refreshIfAging(): Promise<void> {
    if (this.opts.coordination && !this.opts.coordination.isPublisher()) return;
    const latest = await this.storage.latestDataset();
    if (latest && toUnixSeconds(this.opts.now()) >= latest.createdAt + this.opts.ttlSeconds / 2) {
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
    return readContent(this.storage, this.builderOptions, toUnixSeconds(this.opts.now()), await this.routes());
  }

  /** Runs a build job here or in a child process. */
  private execute(job: BuildJob): Promise<BuildJobResult> {
    return this.opts.runJob ? this.opts.runJob(job, (j) => this.executeDefault(j)) : this.executeDefault(job);
  }

  private async executeDefault(job: BuildJob): Promise<BuildJobResult> {
    const bp = this.opts.buildProcess;
    if (!bp) return runBuildJob(this.storage, this.keys, this.builderOptions, job, (this.cache ??= newBuildCache(this.builderOptions)));
    const request: ChildRequest = { dataDir: path.resolve(bp.dataDir), store: bp.store, options: this.builderOptions, job };
    const c = this.startChild();
    const line = await new Promise<string | null>((resolve) => {
      c.waiting = resolve;
      c.proc.ref();
      (c.proc.stdout as unknown as Socket).ref();
      c.proc.stdin.write(`${JSON.stringify(request)}\n`);
    });
    c.waiting = null;
    // Idle, the child must not keep the service's process alive.
    if (line !== null) this.idleChild(c);
    let msg: { ok?: BuildJobResult; error?: { code: string; message: string } } | null = null;
    try {
      msg = line === null ? null : JSON.parse(line);
    } catch {
      msg = null;
    }
    if (msg?.ok) return msg.ok;
    if (msg?.error) {
      const code = (msg.error.code in SERVICE_ERROR_STATUS ? msg.error.code : 'INTERNAL') as ServiceErrorCode;
      throw new ServiceError(code, msg.error.message);
    }
    throw new ServiceError('INTERNAL', `dataset build process ended: ${c.err.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}`);
  }

  private idleChild(c: NonNullable<DatasetPublisher['child']>): void {
    c.proc.unref();
    // The pipes are sockets (stdio 'pipe'); their handles would keep the event loop alive too.
    for (const s of [c.proc.stdout, c.proc.stderr, c.proc.stdin]) (s as unknown as Socket).unref();
  }

  private startChild(): NonNullable<DatasetPublisher['child']> {
    if (this.child) return this.child;
    const proc = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
    const c: NonNullable<DatasetPublisher['child']> = { proc, out: '', err: '', waiting: null };
    this.child = c;
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      c.out += d;
      let nl: number;
      while ((nl = c.out.indexOf('\n')) >= 0) {
        const line = c.out.slice(0, nl);
        c.out = c.out.slice(nl + 1);
        if (line.trim()) c.waiting?.(line);
      }
    });
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (c.err = (c.err + d).slice(-4000)));
    proc.stdin.on('error', () => undefined); // a dead child: reported by 'close'
    const gone = (why: string) => {
      if (this.child === c) this.child = null;
      if (c.err === '') c.err = why;
      c.waiting?.(null);
    };
    proc.once('error', (e) => gone(`failed to start: ${e.message}`));
    proc.once('close', (code, signal) => gone(`exited ${code ?? signal}`));
    this.idleChild(c);
    return c;
  }

  private async build(why: string, force: boolean): Promise<PublishResult> {
    if (this.closed) throw new ServiceError('UNAVAILABLE', 'service is shutting down');
    // Every change notified before this point is read by this build; later ones stay pending.
    this.inFlightSince = this.pendingSince;
    this.pendingSince = null;
    const started = this.clock.nowMs();
    const t0 = performance.now();
    let r: BuildJobResult;
    try {
      r = await this.execute({ kind: 'snapshot', force, now: toUnixSeconds(this.opts.now()), routes: await this.routes() });
      if (r.kind !== 'snapshot') throw new ServiceError('INTERNAL', 'unexpected build result');
    } catch (e) {
      // Not published: the changes are pending again, from their original time.
      if (this.inFlightSince !== null) {
        this.pendingSince = Math.min(this.inFlightSince, this.pendingSince ?? Infinity);
      }
      this.inFlightSince = null;
      this.stats.failures++;
      this.failuresInRow++;
      this.retryNotBefore = this.clock.nowMs() + Math.min(60_000, 1000 * 2 ** Math.min(6, this.failuresInRow - 1));
      throw e;
    }
    this.inFlightSince = null;
    this.failuresInRow = 0;
    this.retryNotBefore = 0;
    this.stats.builds++;
    this.stats.lastBuildMs = Math.max(0, this.clock.nowMs() - started);
    const result: PublishResult = { info: r.info, created: r.created, buildMs: performance.now() - t0, deltas: r.deltas };
    if (!r.created) return result;
    this.stats.published++;
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
    return this.track(async () => {
      const t0 = performance.now();
      const r = await this.execute({ kind: 'delta', from, to });
      const bytes = await this.storage.deltaManifest(from, to);
      if (!bytes) throw new ServiceError('INTERNAL', 'delta was not stored');
      if (r.kind === 'delta' && r.chunks > 0) this.log.info({ from, to, bytes: r.bytes, chunks: r.chunks, ms: Math.round(performance.now() - t0) }, 'delta built');
      return bytes;
    });
  }

  /** Signs and stores a firmware image (version: u32, strictly above the latest). */
  async publishFirmware(image: Uint8Array, version: number, name: string | null): Promise<FirmwareInfo> {
    const latest = await this.storage.latestFirmware();
    if (latest && version <= latest.version) {
      throw new ServiceError('CONFLICT', `firmware version must be above the latest (${latest.version})`);
    }
    const createdAt = toUnixSeconds(this.opts.now());
    const built = buildFirmwareRelease(image, { version, createdAt, chunkSize: this.opts.chunkSize }, this.keys.signingPrivateKey);
    const info: FirmwareInfo = { version, name, createdAt, chunkCount: built.chunks.length, bytes: image.length };
    await this.storage.saveFirmware(info, { manifest: built.manifestBytes, chunks: built.chunks });
    this.log.info({ version, name, bytes: image.length }, 'firmware published');
    return info;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.chain;
    this.cache = null;
    const c = this.child;
    if (c) {
      // End of input ends the child once it has closed its store.
      const exited = new Promise<void>((resolve) => c.proc.once('close', () => resolve()));
      c.proc.ref();
      c.proc.stdin.end();
      if (c.proc.exitCode === null && c.proc.signalCode === null) await exited;
      this.child = null;
    }
  }
}
