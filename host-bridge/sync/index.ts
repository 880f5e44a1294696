// Public surface of the bridge's sync job, and the factory `precheck bridge` loads lazily
// (host-bridge/cli.ts HOOK): createSyncRunner({config, registry, logger}) → the SyncRunner behind
// POST /v1/sync and the schedule. One fetcher, one engine and one set of device locks for the
// bridge's lifetime, so the schedule and API calls never sync one device twice at once.
import path from 'node:path';
import type { BridgeConfig } from '../config.ts';
import type { DeviceHandle, DeviceRegistry } from '../devices/types.ts';
import { DeviceLocks } from './device-lock.ts';
import { SyncFetcher } from './fetcher.ts';
import { SyncEngine, failedRow, exitCodeOf, type SyncLogger, type SyncProgress, type SyncReport, type SyncRequest, type SyncTarget } from './sync-engine.ts';
import { SyncError } from './errors.ts';
import type { NetworkClient } from '../network/network-client.ts';

export { SyncEngine, exitCodeOf, failedRow } from './sync-engine.ts';
export type { DatasetSummary, DeviceSyncResult, SyncLogger, SyncProgress, SyncReport, SyncRequest, SyncTarget, SyncEngineOptions, DeviceStatusLike } from './sync-engine.ts';
export { SyncFetcher, type FetcherOptions, type PreparedRelease, type LatestDataset, type LatestFirmware, type TrustSource } from './fetcher.ts';
export { DeviceLocks, type HeldLock, type LockInfo } from './device-lock.ts';
export { ChunkCache } from './chunk-cache.ts';
export { SyncError, type SyncErrorCode } from './errors.ts';
export { startSyncScheduler, type SyncScheduler, type SyncSchedulerOptions } from './scheduler.ts';
export { DatasetFollower, realFollowClock, type DatasetFollowerOptions, type FollowClock, type FollowTarget, type FollowerStats } from './follower.ts';

/** pino-like logger (object first, message second) as the engine's string logger. */
export function syncLoggerFrom(log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void } | null | undefined): SyncLogger | undefined {
  if (!log) return undefined;
  return {
    info: (m, f) => log.info(f ?? {}, m),
    warn: (m, f) => log.warn(f ?? {}, m),
    error: (m, f) => log.error(f ?? {}, m),
  };
}

/** Lock dir shared by every process that uses this bridge data dir. */
export function syncLockDir(dataDir: string): string {
  return path.join(dataDir, 'sync', 'locks');
}

/** A registry's device handles that can take a sync (SecureDeviceClient does). */
export function syncTargetsOf(registry: Pick<DeviceRegistry, 'list'> | null | undefined): SyncTarget[] {
  return (registry?.list() ?? []).filter(isSyncTarget);
}

export function isSyncTarget(h: DeviceHandle | SyncTarget): h is SyncTarget & DeviceHandle {
  const x = h as unknown as Record<string, unknown>;
  return typeof x.syncBegin === 'function' && typeof x.syncChunk === 'function' && typeof x.status === 'function' && typeof x.fwBegin === 'function';
}

export interface CreateSyncRunnerOptions {
  config: BridgeConfig;
  registry: Pick<DeviceRegistry, 'list'> | null;
  logger?: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void } | null;
  /** Trusted dataset signing key (raw 32 bytes); default: pinned on first contact. */
  signingKey?: Uint8Array | null;
  onProgress?: (p: SyncProgress) => void;
  /** The bridge's service client (shared breaker and retries); without one the fetcher makes its own. */
  network?: NetworkClient | null;
  /** Engine tuning (tests). */
  engine?: { linkRetries?: number; linkRetryDelayMs?: number; rebootTimeoutMs?: number; commitTimeoutMs?: number };
}

export type SyncRunnerFn = ((req?: SyncRequest & { force?: boolean }) => Promise<SyncReport>) & {
  close(): Promise<void>;
  /** Progress of every run while subscribed (POST /v1/sync streams it); returns the unsubscribe. */
  subscribe(listener: (p: SyncProgress) => void): () => void;
  /** The service's newest dataset version, null when none (the sync follower polls this). */
  latestDataset(): Promise<number | null>;
  /** True while a sync of the device runs, in this process or another (its lock is held). */
  busy(deviceId: string): boolean;
};

/**
 * The bridge's sync runner: POST /v1/sync bodies ({devices?, firmware?}) in, a SyncReport out
 * (never throws: failures are rows in the report, and `exitCode` says how it went).
 */
export function createSyncRunner(o: CreateSyncRunnerOptions): SyncRunnerFn {
  const log = syncLoggerFrom(o.logger ?? null);
  const n = o.config.network;
  let fetcher: SyncFetcher | null = null;
  let engine: SyncEngine | null = null;
  const locks = new DeviceLocks(syncLockDir(o.config.dataDir));
  const listeners = new Set<(p: SyncProgress) => void>();
  const onProgress = (p: SyncProgress): void => {
    o.onProgress?.(p);
    for (const l of listeners) l(p);
  };
  const setup = (): SyncEngine => {
    if (engine) return engine;
    if (!n.serviceUrl) throw new SyncError('NOT_CONFIGURED', 'no network service URL configured (network.serviceUrl / PRECHECK_SERVICE_URL)');
    fetcher = new SyncFetcher({
      serviceUrl: n.serviceUrl,
      apiKey: n.apiKey,
      dataDir: o.config.dataDir,
      signingKey: o.signingKey ?? null,
      // a chunk download is bigger than an auth call: give it room
      timeoutMs: Math.max(n.timeoutMs, 10_000),
      retries: n.retries,
      backoffMs: n.backoffMs,
      client: o.network ?? null,
    });
    engine = new SyncEngine({ fetcher, locks, logger: log, onProgress, ...o.engine });
    return engine;
  };
  const run = async (req: SyncRequest & { force?: boolean } = {}): Promise<SyncReport> => {
    let e: SyncEngine;
    try {
      e = setup();
    } catch (err) {
      const targets = syncTargetsOf(o.registry);
      const report: SyncReport = {
        startedAt: new Date().toISOString(),
        seconds: 0,
        service: { url: n.serviceUrl ?? '', reachable: false, error: `${(err as SyncError).code}: ${(err as Error).message}`, code: (err as SyncError).code },
        latest: { dataset: null, firmware: null },
        results: targets.map((t) => failedRow(t.id, t.link, 'dataset', err)),
        exitCode: 3,
      };
      report.exitCode = exitCodeOf(report);
      return report;
    }
    const { force: _force, ...rest } = req;
    const report = await e.run(syncTargetsOf(o.registry), rest);
    // drop in-memory releases between runs (the disk cache keeps them)
    fetcher?.forget();
    return report;
  };
  return Object.assign(run, {
    close: async () => {
      await fetcher?.close();
    },
    subscribe: (listener: (p: SyncProgress) => void) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    latestDataset: async () => {
      setup();
      // The follower polls every sync.pollSeconds: one attempt per poll (see SyncFetcher.latestDataset).
      return (await fetcher!.latestDataset({ retries: 0 }))?.version ?? null;
    },
    busy: (deviceId: string) => locks.holder(deviceId) !== null,
  });
}
