// The sync job: bring each device's dataset (and, on request, firmware) to the service's latest.
//
// Per device:
//   status → up to date? skip : fetch the release (delta from the device's version when the
//   service has one, else the snapshot; fully verified by the fetcher before anything is sent) →
//   SYNC_BEGIN (the device answers nextChunk: a transfer of the same manifest resumes where it
//   stopped) → chunks in order → SYNC_COMMIT (the device switches slots atomically) → status
//   again to confirm the active version.
//   Link faults (unplug, bus noise, device restart) are retried a few times by beginning again,
//   which resumes at the device's last good chunk; a run that gives up leaves the partial
//   transfer on the device for the next run to resume.
//   Firmware: the same transfer, FW_COMMIT (device boots the image on trial), wait until it
//   answers again, health check (status and an authenticated session), FW_CONFIRM. A device
//   that fails its self-test or does not come back on the new version rolls itself back; the
//   result is then 'rolled-back' with the device's reason.
//
// Never two syncs of one device at once: DeviceLocks (in process and a lock file across
// processes). A second run of this process waits for the first to finish with the device and then
// checks it again (usually: up to date); another process's run gets SYNC_BUSY at once, nothing sent. Verification keeps working
// during a sync: every request to a device goes through its client's one-exchange-at-a-time
// queue, so a VERIFY waits for at most one chunk exchange.
import { DATASET_STATES, FIRMWARE_STATES } from '../../protocol/messages/catalogue.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { DeviceLocks, HeldLock } from './device-lock.ts';
import { SyncError, describeError, errorCode } from './errors.ts';
import type { LatestDataset, LatestFirmware, PreparedRelease, SyncFetcher } from './fetcher.ts';
import { toUnixSeconds } from '../../runtime/clock.ts';

/** STATUS_RES fields the engine reads (SecureDeviceClient.status() returns them). */
export interface DeviceStatusLike {
  deviceId: string;
  firmwareVersion: number;
  /** 0 confirmed, 1 trial */
  firmwareState: number;
  datasetVersion: number;
  /** 0 fresh, 1 stale, 2 none */
  datasetState: number;
  datasetCreatedAt: number;
  datasetExpiresAt: number;
  syncVersion: number;
  syncNextChunk: number;
  syncTotalChunks: number;
}
export interface TransferStateLike {
  version: number;
  nextChunk: number;
  totalChunks: number;
}

/** What the engine needs of a device; host-bridge/session SecureDeviceClient implements it. */
export interface SyncTarget {
  readonly id: string;
  readonly link: string;
  readonly paired?: boolean;
  status(opts?: { timeoutMs?: number }): Promise<DeviceStatusLike>;
  syncBegin(manifest: Uint8Array): Promise<TransferStateLike>;
  syncChunk(version: number, index: number, data: Uint8Array): Promise<TransferStateLike>;
  syncCommit(version: number): Promise<number>;
  syncAbort(version: number): Promise<void>;
  fwBegin(manifest: Uint8Array): Promise<TransferStateLike>;
  fwChunk(version: number, index: number, data: Uint8Array): Promise<TransferStateLike>;
  fwCommit(version: number): Promise<{ version: number; state: number }>;
  fwConfirm(version: number): Promise<{ version: number; state: number }>;
  /** Authenticated status (session round trip): the firmware health check uses it when present. */
  secureStatus?(): Promise<DeviceStatusLike>;
  /** One inner request with its own timeout (long commits); used when present. */
  call?(req: { type: 'SYNC_COMMIT' | 'FW_COMMIT'; version: number }, opts?: { timeoutMs?: number }): Promise<unknown>;
  /** Refresh the cached summary (health, metrics) after a sync. */
  refreshStatus?(): Promise<unknown>;
}

export type SyncKind = 'dataset' | 'firmware';
export type SyncOutcome = 'updated' | 'up-to-date' | 'failed' | 'rolled-back';

export interface DeviceSyncResult {
  device: string;
  link: string;
  kind: SyncKind;
  from: number;
  to: number;
  /** how the data went: a delta, a full snapshot or a firmware image */
  via?: 'delta' | 'snapshot' | 'firmware';
  bytesSent: number;
  seconds: number;
  result: SyncOutcome;
  /** first chunk sent in this run (> 0: a previous attempt's transfer was resumed) */
  resumedFrom?: number;
  chunks?: number;
  /** "CODE: message" when failed or rolled back */
  error?: string;
  code?: string;
  /** dataset rows: when the service created the version the device holds now (unix s, service clock) */
  createdAt?: number;
  /** updated dataset rows: the decision rules version the dataset was built for (its manifest's) */
  rulesVersion?: number;
}

/** The dataset side of a run: what the service has and, when nothing was new, how old it is. */
export interface DatasetSummary {
  /** the service's newest version */
  latest: number | null;
  /** how old the service's newest data is, in seconds (its own answer, else from createdAt) */
  ageSeconds: number | null;
  /** how long the oldest change not yet in a published dataset has waited; null: none, or unknown */
  pendingSeconds: number | null;
  /** every device already held the newest version */
  nothingNew: boolean;
  /** one line for people: "nothing new: ..." or what was brought */
  note: string;
}

export interface SyncProgress {
  device: string;
  kind: SyncKind;
  phase: 'check' | 'download' | 'send' | 'commit' | 'reboot' | 'confirm' | 'done';
  from: number;
  to: number;
  chunk: number;
  chunks: number;
  bytesSent: number;
  bytesTotal: number;
}

export interface SyncLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface SyncEngineOptions {
  fetcher: SyncFetcher;
  locks: DeviceLocks;
  logger?: SyncLogger;
  onProgress?: (p: SyncProgress) => void;
  /** Consecutive link failures without progress before a device is given up (default 4). */
  linkRetries?: number;
  /** Pause before retrying after a link failure, doubled each time (default 300 ms). */
  linkRetryDelayMs?: number;
  /** Timeout of SYNC_COMMIT / FW_COMMIT: installing 10^6 cards takes seconds (default 120 s). */
  commitTimeoutMs?: number;
  /** How long a device may take to come back after FW_COMMIT (default 60 s). */
  rebootTimeoutMs?: number;
}

export interface SyncRequest {
  /** Device ids; absent = every target given. */
  devices?: string[];
  /** Also bring firmware up to date. */
  firmware?: boolean;
  /** Dataset sync (default true). */
  dataset?: boolean;
}

export interface SyncReport {
  startedAt: string;
  seconds: number;
  service: { url: string; reachable: boolean; trust?: string; error?: string; code?: string };
  latest: { dataset: number | null; firmware: number | null };
  /** absent when the run did not look at datasets or could not reach the service */
  dataset?: DatasetSummary;
  results: DeviceSyncResult[];
  /** 0 all fine, 3 service unreachable, 4 some device failed or rolled back, 5 refused (forged data) */
  exitCode: 0 | 3 | 4 | 5;
}

const TRANSIENT = new Set([
  'TIMEOUT',
  'DISCONNECTED',
  'BUSY',
  'NO_SESSION',
  'DECRYPT_FAILED',
  'REPLAY',
  'BAD_CRC',
  'BAD_FRAME',
  'BAD_SEQUENCE',
  'BAD_CHANNEL',
  'CANCELLED',
  'MALFORMED',
]);
const NOOP: SyncLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface TransferOps {
  kind: SyncKind;
  begin(m: Uint8Array): Promise<TransferStateLike>;
  chunk(v: number, i: number, d: Uint8Array): Promise<TransferStateLike>;
}

export class SyncEngine {
  private readonly log: SyncLogger;
  private readonly linkRetries: number;
  private readonly retryDelayMs: number;
  private readonly commitTimeoutMs: number;
  private readonly rebootTimeoutMs: number;

  constructor(private readonly o: SyncEngineOptions) {
    this.log = o.logger ?? NOOP;
    this.linkRetries = o.linkRetries ?? 4;
    this.retryDelayMs = o.linkRetryDelayMs ?? 300;
    this.commitTimeoutMs = o.commitTimeoutMs ?? 120_000;
    this.rebootTimeoutMs = o.rebootTimeoutMs ?? 60_000;
  }

  /** Sync every target (selected by req.devices), all devices concurrently; never throws. */
  async run(targets: SyncTarget[], req: SyncRequest = {}): Promise<SyncReport> {
    const t0 = Date.now();
    const report: SyncReport = {
      startedAt: new Date(t0).toISOString(),
      seconds: 0,
      service: { url: this.o.fetcher.serviceUrl, reachable: false },
      latest: { dataset: null, firmware: null },
      results: [],
      exitCode: 0,
    };
    const doDataset = req.dataset !== false;
    const selected: SyncTarget[] = [];
    if (req.devices && req.devices.length > 0) {
      for (const id of req.devices) {
        const t = targets.find((x) => x.id === id);
        if (t) selected.push(t);
        else report.results.push(failedRow(id, '-', doDataset ? 'dataset' : 'firmware', new SyncError('DEVICE_NOT_FOUND', `no device "${id}" is attached to this bridge`)));
      }
    } else selected.push(...targets);

    // Service metadata once for all devices; a failure here fails every device the same way.
    let latestDs: LatestDataset | null = null;
    let latestFw: LatestFirmware | null = null;
    try {
      const trust = await this.o.fetcher.trustedKey();
      report.service.trust = `${trust.keyId} (${trust.source})`;
      if (doDataset) latestDs = await this.o.fetcher.latestDataset();
      if (req.firmware) latestFw = await this.o.fetcher.latestFirmware();
      report.service.reachable = true;
      report.latest = { dataset: latestDs?.version ?? null, firmware: latestFw?.version ?? null };
    } catch (e) {
      report.service.error = describeError(e);
      report.service.code = errorCode(e);
      report.service.reachable = errorCode(e) !== 'SERVICE_UNAVAILABLE';
      this.log.error(`sync: network service: ${describeError(e)}`);
      for (const t of selected) report.results.push(failedRow(t.id, t.link, doDataset ? 'dataset' : 'firmware', e));
      return this.finish(report, t0);
    }

    const perDevice = await Promise.all(selected.map((t) => this.syncDevice(t, doDataset ? latestDs : undefined, req.firmware ? latestFw : undefined)));
    for (const rows of perDevice) report.results.push(...rows);
    if (doDataset) report.dataset = datasetSummary(latestDs, report.results.filter((r) => r.kind === 'dataset'));
    return this.finish(report, t0);
  }

  private finish(report: SyncReport, t0: number): SyncReport {
    report.seconds = (Date.now() - t0) / 1000;
    report.exitCode = exitCodeOf(report);
    return report;
  }

  /**
   * One device: dataset (latestDs !== undefined) then firmware (latestFw !== undefined), under
   * the device's lock.
   */
  async syncDevice(t: SyncTarget, latestDs: LatestDataset | null | undefined, latestFw?: LatestFirmware | null): Promise<DeviceSyncResult[]> {
    const rows: DeviceSyncResult[] = [];
    let lock: HeldLock;
    try {
      if (t.paired === false) throw new ProtocolError('NOT_PAIRED', `device ${t.id} is not paired with this bridge (run: precheck pair ${t.id})`);
      lock = await this.o.locks.acquireAfterOwn(t.id, 'sync', () => this.log.info(`sync: ${t.id} waits for the sync of it already running in this process`));
    } catch (e) {
      this.log.warn(`sync: ${t.id}: ${describeError(e)}`);
      return [failedRow(t.id, t.link, latestDs !== undefined ? 'dataset' : 'firmware', e)];
    }
    try {
      if (latestDs !== undefined) rows.push(await this.syncDataset(t, latestDs));
      if (latestFw !== undefined) rows.push(await this.syncFirmware(t, latestFw));
    } finally {
      lock.release();
      await t.refreshStatus?.().catch(() => undefined);
    }
    return rows;
  }

  /** A device's result for one kind (failed until it says otherwise), and done() that stamps its duration and reports it. */
  private resultRow(t: SyncTarget, kind: SyncKind): { row: DeviceSyncResult; done: () => DeviceSyncResult } {
    const t0 = Date.now();
    const row: DeviceSyncResult = { device: t.id, link: t.link, kind, from: 0, to: 0, bytesSent: 0, seconds: 0, result: 'failed' };
    const done = (): DeviceSyncResult => {
      row.seconds = (Date.now() - t0) / 1000;
      this.progress(t, kind, 'done', row.from, row.to, 0, 0, row.bytesSent, row.bytesSent);
      return row;
    };
    return { row, done };
  }

  // ------------------------------------------------------------------ dataset

  private async syncDataset(t: SyncTarget, latest: LatestDataset | null): Promise<DeviceSyncResult> {
    const { row, done } = this.resultRow(t, 'dataset');
    try {
      const st = await this.withLinkRetries(t, () => t.status());
      row.from = st.datasetVersion;
      row.to = st.datasetVersion;
      if (!latest || st.datasetVersion >= latest.version) {
        row.result = 'up-to-date';
        if (st.datasetCreatedAt > 0) row.createdAt = st.datasetCreatedAt;
        if (latest && st.datasetVersion > latest.version) this.log.warn(`sync: ${t.id} holds dataset ${st.datasetVersion}, newer than the service's ${latest.version}`);
        return done();
      }
      row.to = latest.version;
      this.progress(t, 'dataset', 'download', row.from, row.to, 0, 0, 0, 0);
      let rel = await this.o.fetcher.datasetRelease(latest.version, st.datasetVersion);
      const ops: TransferOps = { kind: 'dataset', begin: (m) => t.syncBegin(m), chunk: (v, i, d) => t.syncChunk(v, i, d) };
      try {
        await this.transfer(t, rel, ops, row);
      } catch (e) {
        // A delta the device cannot take (its base moved, or the result's hash differs): the
        // full snapshot always applies.
        if (rel.source !== 'delta' || !['SYNC_STATE', 'CHUNK_HASH'].includes(errorCode(e))) throw e;
        this.log.warn(`sync: ${t.id}: delta refused (${describeError(e)}); sending the snapshot`);
        rel = await this.o.fetcher.snapshotRelease(latest.version);
        await this.transfer(t, rel, ops, row);
      }
      this.progress(t, 'dataset', 'commit', row.from, row.to, rel.manifest.chunkCount, rel.manifest.chunkCount, row.bytesSent, rel.bytes);
      await this.commitDataset(t, rel.manifest.version);
      const after = await this.withLinkRetries(t, () => t.status());
      if (after.datasetVersion !== rel.manifest.version) {
        throw new SyncError('DEVICE_REFUSED', `device reports dataset ${after.datasetVersion} after committing ${rel.manifest.version}`);
      }
      row.result = 'updated';
      row.createdAt = rel.manifest.createdAt;
      if (rel.manifest.rulesVersion !== undefined) row.rulesVersion = rel.manifest.rulesVersion;
      this.log.info(`sync: ${t.id} dataset ${row.from} → ${row.to} (${row.via}, ${row.bytesSent} bytes)`);
    } catch (e) {
      // another bridge finished this device meanwhile: its version is now not older than ours
      const st = errorCode(e) === 'DATASET_OLDER' ? await t.status().catch(() => null) : null;
      if (st && latest && st.datasetVersion >= latest.version) {
        row.result = 'up-to-date';
        row.to = st.datasetVersion;
        return done();
      }
      row.result = 'failed';
      row.error = describeError(e);
      row.code = errorCode(e);
      this.log.warn(`sync: ${t.id} dataset failed: ${row.error}`);
    }
    return done();
  }

  private async commitDataset(t: SyncTarget, version: number): Promise<void> {
    try {
      if (t.call) await t.call({ type: 'SYNC_COMMIT', version }, { timeoutMs: this.commitTimeoutMs });
      else await t.syncCommit(version);
    } catch (e) {
      // The answer may be lost while the commit happened (link fault after the switch).
      if (!TRANSIENT.has(errorCode(e))) throw e;
      const st = await this.withLinkRetries(t, () => t.status());
      if (st.datasetVersion !== version) throw e;
    }
  }

  // ------------------------------------------------------------------ firmware

  private async syncFirmware(t: SyncTarget, latest: LatestFirmware | null): Promise<DeviceSyncResult> {
    const { row, done } = this.resultRow(t, 'firmware');
    try {
      const st = await this.withLinkRetries(t, () => t.status());
      row.from = st.firmwareVersion;
      row.to = st.firmwareVersion;
      const trial = FIRMWARE_STATES[st.firmwareState] === 'trial';
      if (!latest || (st.firmwareVersion >= latest.version && !trial)) {
        row.result = 'up-to-date';
        return done();
      }
      row.to = latest.version;
      if (trial && st.firmwareVersion !== latest.version) {
        throw new SyncError('FIRMWARE_NOT_HEALTHY', `device runs trial firmware ${st.firmwareVersion}, not confirmed; it must be confirmed or roll back first`);
      }
      if (!trial) {
        this.progress(t, 'firmware', 'download', row.from, row.to, 0, 0, 0, 0);
        const rel = await this.o.fetcher.firmwareRelease(latest.version);
        await this.transfer(t, rel, { kind: 'firmware', begin: (m) => t.fwBegin(m), chunk: (v, i, d) => t.fwChunk(v, i, d) }, row);
        this.progress(t, 'firmware', 'commit', row.from, row.to, rel.manifest.chunkCount, rel.manifest.chunkCount, row.bytesSent, rel.bytes);
        try {
          if (t.call) await t.call({ type: 'FW_COMMIT', version: latest.version }, { timeoutMs: this.commitTimeoutMs });
          else await t.fwCommit(latest.version);
        } catch (e) {
          if (!TRANSIENT.has(errorCode(e))) throw e; // the device reboots: a lost answer is expected
        }
      } else {
        row.via = 'firmware';
        this.log.info(`sync: ${t.id} already runs firmware ${latest.version} on trial; checking and confirming it`);
      }
      // The device reboots into the trial image: wait until it answers again.
      this.progress(t, 'firmware', 'reboot', row.from, row.to, 0, 0, row.bytesSent, row.bytesSent);
      const back = await this.waitUntilBack(t);
      if (back.firmwareVersion !== latest.version) {
        row.result = 'rolled-back';
        row.code = 'FIRMWARE_INVALID';
        row.error = `FIRMWARE_INVALID: device came back on firmware ${back.firmwareVersion}, not ${latest.version}: it rolled back at boot (self-test failed)`;
        return done();
      }
      // Health: an authenticated session works and the status is sane.
      this.progress(t, 'firmware', 'confirm', row.from, row.to, 0, 0, row.bytesSent, row.bytesSent);
      if (t.secureStatus) await this.withLinkRetries(t, () => t.secureStatus!());
      try {
        await this.withLinkRetries(t, () => t.fwConfirm(latest.version));
      } catch (e) {
        if (errorCode(e) === 'FIRMWARE_INVALID') {
          const after = await this.withLinkRetries(t, () => t.status()).catch(() => null);
          row.result = 'rolled-back';
          row.code = 'FIRMWARE_INVALID';
          row.error = `${describeError(e)}${after ? ` (device now runs ${after.firmwareVersion})` : ''}`;
          this.log.error(`sync: ${t.id} firmware ${latest.version} rolled back: ${row.error}`);
          return done();
        }
        throw e;
      }
      const after = await this.withLinkRetries(t, () => t.status());
      if (after.firmwareVersion !== latest.version || FIRMWARE_STATES[after.firmwareState] !== 'confirmed') {
        throw new SyncError('FIRMWARE_NOT_HEALTHY', `after confirming, device reports firmware ${after.firmwareVersion} (${FIRMWARE_STATES[after.firmwareState]})`);
      }
      row.result = 'updated';
      this.log.info(`sync: ${t.id} firmware ${row.from} → ${row.to} confirmed`);
    } catch (e) {
      row.result = 'failed';
      row.error = describeError(e);
      row.code = errorCode(e);
      this.log.warn(`sync: ${t.id} firmware failed: ${row.error}`);
    }
    return done();
  }

  private async waitUntilBack(t: SyncTarget): Promise<DeviceStatusLike> {
    const deadline = Date.now() + this.rebootTimeoutMs;
    let wait = this.retryDelayMs;
    for (;;) {
      try {
        return await t.status({ timeoutMs: 2_000 });
      } catch (e) {
        if (!TRANSIENT.has(errorCode(e)) || Date.now() + wait > deadline) {
          throw new SyncError(
            'FIRMWARE_NOT_HEALTHY',
            `device did not come back within ${Math.round(this.rebootTimeoutMs / 1000)} s after the firmware commit (${describeError(e)}); the unconfirmed trial image rolls back at its next boot`,
          );
        }
      }
      await delay(wait);
      wait = Math.min(wait * 2, 2_000);
    }
  }

  // ------------------------------------------------------------------ transfer

  /** Begin (resume) and stream every chunk; link faults retried by beginning again. */
  private async transfer(t: SyncTarget, rel: PreparedRelease, ops: TransferOps, row: DeviceSyncResult): Promise<void> {
    const m = rel.manifest;
    const n = m.chunkCount;
    row.via = rel.source;
    row.chunks = n;
    let failures = 0;
    let lastError: unknown = null;
    let first = true;
    for (;;) {
      if (failures > this.linkRetries) {
        throw new SyncError('DEVICE_UNAVAILABLE', `gave up after ${failures} link failures without progress (last: ${describeError(lastError)}); the next run resumes`, {
          cause: lastError,
        });
      }
      if (failures > 0) await delay(Math.min(this.retryDelayMs * 2 ** (failures - 1), 5_000));
      let i: number;
      try {
        const st = await ops.begin(rel.manifestBytes);
        row.bytesSent += rel.manifestBytes.length;
        if (st.version !== m.version || st.totalChunks !== n) throw new SyncError('DEVICE_REFUSED', `device answered transfer ${st.version} (${st.totalChunks} chunks) to manifest ${m.version}`);
        i = st.nextChunk;
        this.progress(t, ops.kind, 'send', row.from, row.to, i, n, row.bytesSent, rel.bytes);
        if (first) {
          row.resumedFrom = i;
          if (i > 0) this.log.info(`sync: ${t.id} resumes ${ops.kind} ${m.version} at chunk ${i}/${n}`);
          first = false;
        }
      } catch (e) {
        if (isOtherHostsTransfer(e)) throw otherHostBusy(t, e);
        if (!TRANSIENT.has(errorCode(e))) throw deviceRefusal(e, ops.kind, m.version);
        failures++;
        lastError = e;
        continue;
      }
      let progressed = false;
      try {
        while (i < n) {
          const data = rel.chunks[i];
          const st = await ops.chunk(m.version, i, data);
          row.bytesSent += data.length;
          progressed = true;
          failures = 0;
          const before = i;
          i = st.nextChunk > i ? st.nextChunk : i + 1;
          this.progress(t, ops.kind, 'send', row.from, row.to, i, n, row.bytesSent, rel.bytes);
          // a log line per tenth: operators (and tests) see how far a long transfer got
          if (Math.floor((i * 10) / n) !== Math.floor((before * 10) / n)) this.log.info(`sync: ${t.id} ${ops.kind} ${m.version} chunk ${i}/${n}`);
        }
        return;
      } catch (e) {
        const code = errorCode(e);
        if (isOtherHostsTransfer(e)) throw otherHostBusy(t, e);
        if (code === 'SYNC_STATE' || TRANSIENT.has(code)) {
          // out of order / transfer replaced / link fault: begin again, the device says where
          if (!progressed) failures++;
          else failures = 1;
          lastError = e;
          this.log.warn(`sync: ${t.id} ${ops.kind} chunk ${i}: ${describeError(e)}; resuming`);
          continue;
        }
        throw deviceRefusal(e, ops.kind, m.version);
      }
    }
  }

  private async withLinkRetries<T>(t: SyncTarget, fn: () => Promise<T>): Promise<T> {
    let failures = 0;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!TRANSIENT.has(errorCode(e)) || failures >= this.linkRetries) throw e;
        failures++;
        await delay(Math.min(this.retryDelayMs * 2 ** (failures - 1), 5_000));
      }
    }
  }

  private progress(t: SyncTarget, kind: SyncKind, phase: SyncProgress['phase'], from: number, to: number, chunk: number, chunks: number, bytesSent: number, bytesTotal: number): void {
    this.o.onProgress?.({ device: t.id, kind, phase, from, to, chunk, chunks, bytesSent, bytesTotal });
  }
}

/**
 * The device's own refusal of a second host's transfer (TRANSFER_OWNED). Not a link fault, so not
 * retried here: the run reports SYNC_BUSY at once (the device frees itself after that host's 60 s
 * of silence).
 */
function isOtherHostsTransfer(e: unknown): boolean {
  return e instanceof ProtocolError && e.code === 'TRANSFER_OWNED';
}

function otherHostBusy(t: SyncTarget, e: unknown): SyncError {
  return new SyncError('SYNC_BUSY', `device ${t.id} is being synced by another host: ${(e as Error).message}`, { cause: e });
}

function deviceRefusal(e: unknown, kind: SyncKind, version: number): unknown {
  if (e instanceof ProtocolError && ['SIGNATURE_INVALID', 'DATASET_OLDER', 'DATASET_EXPIRED', 'FIRMWARE_INVALID', 'CHUNK_HASH'].includes(e.code)) {
    return new ProtocolError(e.code, `device refused ${kind} ${version}: ${e.message}`, e.detail);
  }
  return e;
}

/** The report's dataset summary: says so when nothing was new, and how old the service's data is. */
export function datasetSummary(latest: LatestDataset | null, rows: DeviceSyncResult[], nowS = toUnixSeconds(Date.now())): DatasetSummary {
  const ageSeconds = latest ? (typeof latest.ageSeconds === 'number' ? latest.ageSeconds : Math.max(0, nowS - latest.createdAt)) : null;
  const pendingSeconds = typeof latest?.oldestUnpublishedChangeAgeSeconds === 'number' ? latest.oldestUnpublishedChangeAgeSeconds : null;
  const nothingNew = rows.length > 0 && rows.every((r) => r.result === 'up-to-date');
  const updated = rows.filter((r) => r.result === 'updated').length;
  let note: string;
  if (!latest) note = 'the network service has published no dataset yet';
  else if (nothingNew) {
    const waiting = pendingSeconds === null ? 'no change waiting to be published' : `changes waiting to be published for ${Math.round(pendingSeconds)} s`;
    note = `nothing new: every device holds v${latest.version}, the service's newest data is ${Math.round(ageSeconds ?? 0)} s old (${waiting})`;
  } else note = `v${latest.version} (${Math.round(ageSeconds ?? 0)} s old) brought to ${updated} of ${rows.length} device(s)`;
  return { latest: latest?.version ?? null, ageSeconds, pendingSeconds, nothingNew, note };
}

export function failedRow(device: string, link: string, kind: SyncKind, e: unknown): DeviceSyncResult {
  return { device, link, kind, from: 0, to: 0, bytesSent: 0, seconds: 0, result: 'failed', error: describeError(e), code: errorCode(e) };
}

/** 0 all fine; 3 service unreachable; 5 refused as forged; 4 any device failed or rolled back. */
export function exitCodeOf(r: SyncReport): 0 | 3 | 4 | 5 {
  if (r.service.code === 'SERVICE_UNAVAILABLE' || r.service.code === 'NOT_CONFIGURED') return 3;
  const bad = r.results.filter((x) => x.result === 'failed' || x.result === 'rolled-back');
  if (bad.length === 0) return 0;
  if (bad.every((x) => x.code === 'SERVICE_UNAVAILABLE')) return 3;
  if (bad.some((x) => x.code === 'SIGNATURE_INVALID' || x.code === 'SIGNING_KEY_CHANGED')) return 5;
  return 4;
}

export function datasetStateName(n: number): string {
  return DATASET_STATES[n] ?? 'none';
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
