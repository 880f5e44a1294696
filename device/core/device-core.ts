// DeviceCore: the verifier firmware's core behind one facade, for the link/session layer. It
// knows nothing of links. Every method is synchronous (SQLite via better-sqlite3); errors are
// ProtocolErrors whose code the session maps onto an ERROR message.
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import { datasetState } from '../../protocol/dataset/freshness.ts';
import { checkNowMs, systemNowMs, toUnixSeconds, type NowMs } from '../../runtime/clock.ts';
import type { DatasetState, FirmwareState } from '../../protocol/messages/catalogue.ts';
import type { RawKeyPair } from '../../protocol/secure/x25519.ts';
import { type Db, openDatabase } from '../store/database.ts';
import { DatasetSlots, type SlotMeta } from '../store/dataset-slots.ts';
import { DeviceSettings } from '../store/device-state.ts';
import { DEFAULT_JOURNAL_ROWS, Journal, type JournalEntry } from '../store/journal.ts';
import { DEFAULT_MAX_PAIRED_HOSTS, type PairedHost, PairedHostStore } from '../store/paired-hosts.ts';
import { TransferStore } from '../store/transfers.ts';
import { FirmwareReceiver, type BootCheckResult, type FirmwareInfo } from './firmware-receiver.ts';
import { type DeviceIdentity, type ProvisionOptions, isProvisioned, loadIdentity, provision } from './identity.ts';
import { type VerifyRequest, type VerifyResult, verifyLocally } from './local-auth.ts';
import { FloorBudget } from '../store/floor-budget.ts';
import { SyncReceiver } from './sync-receiver.ts';
import { RULES_VERSION } from '../../rules/decide.ts';
import type { TransferState } from './transfer-receiver.ts';

export interface DeviceCoreOptions {
  /** Wall clock, ms (runtime/clock.ts; tests pin it). Stored and sent instants are Unix seconds. */
  now?: NowMs;
  /** provision the data dir on first open with these settings */
  provision?: ProvisionOptions;
  maxPairedHosts?: number;
  /** ISO 3166-1 alpha-2; stored in the device settings when given (null clears it) */
  merchantCountry?: string | null;
  journalRows?: number;
  /** journal flush interval (ms); 0 disables the timer (flush on batch/close only) */
  journalFlushMs?: number;
  /**
   * test hooks. rulesVersion: the decision rules version INFO_RES reports instead of RULES_VERSION
   * (null: none, as firmware from before rules versions), so an emulated device stands for one
   * still running older rules.
   */
  hooks?: { beforeDatasetSwitch?: () => void; rulesVersion?: number | null };
}

/** INFO_RES fields the core knows (the link layer adds protocolVersion and maxMessageSize). */
export interface DeviceInfo {
  deviceId: string;
  firmwareVersion: number;
  datasetVersion: number;
  datasetState: DatasetState;
  datasetExpiresAt: number;
  /** Noise static public key (X25519, 32 bytes) */
  staticKey: Uint8Array;
  pairedHosts: number;
  maxPairedHosts: number;
  /** the decision rules version this firmware runs (rules/ RULES_VERSION); null: not reported */
  rulesVersion: number | null;
}

/** STATUS_RES fields (enums as strings: FIRMWARE_STATES / DATASET_STATES of the catalogue). */
export interface DeviceStatus {
  deviceId: string;
  firmwareVersion: number;
  firmwareState: FirmwareState;
  datasetVersion: number;
  datasetState: DatasetState;
  datasetCreatedAt: number;
  datasetExpiresAt: number;
  verificationsServed: number;
  framesRejected: number;
  syncVersion: number;
  syncNextChunk: number;
  syncTotalChunks: number;
}

export interface PairedHostsApi {
  list(): PairedHost[];
  /** PAIRING_FULL when the maximum is reached */
  add(publicKey: Uint8Array, name: string): PairedHost;
  remove(publicKey: Uint8Array): boolean;
  isPaired(publicKey: Uint8Array): boolean;
  count(): number;
  readonly max: number;
}

const COUNTRY_RE = /^[A-Z]{2}$/;

export class DeviceCore {
  readonly dataDir: string;
  readonly pairedHosts: PairedHostsApi;
  /** what the firmware boot check did when this core opened */
  readonly bootResult: BootCheckResult;
  private readonly identity: DeviceIdentity;
  private readonly db: Db;
  private readonly slots: DatasetSlots;
  private readonly settings: DeviceSettings;
  private readonly journal: Journal;
  private readonly floor: FloorBudget;
  private readonly sync: SyncReceiver;
  private readonly fw: FirmwareReceiver;
  private readonly now: NowMs;
  private merchantCountryCache: string | null;
  private readonly rulesVersion: number | null;
  private closed = false;

  private constructor(dataDir: string, identity: DeviceIdentity, db: Db, opts: DeviceCoreOptions) {
    this.dataDir = dataDir;
    this.identity = identity;
    this.db = db;
    this.now = opts.now ? checkNowMs(opts.now, 'DeviceCoreOptions.now') : systemNowMs;
    this.rulesVersion = opts.hooks?.rulesVersion !== undefined ? opts.hooks.rulesVersion : RULES_VERSION;
    this.slots = new DatasetSlots(db);
    this.floor = new FloorBudget(db);
    this.settings = new DeviceSettings(db);
    this.journal = new Journal(db, { maxRows: opts.journalRows ?? DEFAULT_JOURNAL_ROWS, flushMs: opts.journalFlushMs });
    const transfers = new TransferStore(db);
    const trustedKeys = () => identity.trustedSigningKeys;
    this.sync = new SyncReceiver({
      db,
      slots: this.slots,
      transfers,
      trustedKeys,
      now: this.now,
      hooks: opts.hooks?.beforeDatasetSwitch ? { beforeSwitch: opts.hooks.beforeDatasetSwitch } : undefined,
    });
    this.fw = new FirmwareReceiver({
      db,
      dataDir,
      transfers,
      trustedKeys,
      now: this.now,
      onRollback: () => this.journal.increment('rollbacks'),
    });
    const hosts = new PairedHostStore(db, opts.maxPairedHosts ?? DEFAULT_MAX_PAIRED_HOSTS);
    this.pairedHosts = {
      list: () => this.guard(() => hosts.list()),
      add: (k, name) => this.guard(() => hosts.add(k, name, toUnixSeconds(this.now()))),
      remove: (k) => this.guard(() => hosts.remove(k)),
      isPaired: (k) => this.guard(() => hosts.isPaired(k)),
      count: () => this.guard(() => hosts.count()),
      max: hosts.max,
    };
    this.merchantCountryCache = this.settings.get('merchant_country');
    if (opts.merchantCountry !== undefined) this.setMerchantCountry(opts.merchantCountry);
    this.bootResult = this.fw.bootCheck();
  }

  /** Open (and on first use, provision with opts.provision) the device in `dataDir`. */
  static open(dataDir: string, opts: DeviceCoreOptions = {}): DeviceCore {
    let identity: DeviceIdentity;
    if (!isProvisioned(dataDir)) {
      if (!opts.provision) throw new ProtocolError('INTERNAL', `no device identity in ${dataDir}; provision first`);
      identity = provision(dataDir, opts.provision);
    } else {
      identity = loadIdentity(dataDir);
    }
    const db = openDatabase(dataDir);
    try {
      return new DeviceCore(dataDir, identity, db, opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  get deviceId(): string {
    return this.identity.deviceId;
  }

  staticKeyPair(): RawKeyPair {
    return { publicKey: Uint8Array.from(this.identity.staticKeyPair.publicKey), privateKey: Uint8Array.from(this.identity.staticKeyPair.privateKey) };
  }

  private activeMeta(): SlotMeta | null {
    return this.slots.activeMeta();
  }

  info(): DeviceInfo {
    return this.guard(() => this.info_());
  }

  private info_(): DeviceInfo {
    const meta = this.activeMeta();
    return {
      deviceId: this.identity.deviceId,
      firmwareVersion: this.fw.info().version,
      datasetVersion: meta?.version ?? 0,
      datasetState: datasetState(meta, toUnixSeconds(this.now())),
      datasetExpiresAt: meta?.expiresAt ?? 0,
      staticKey: Uint8Array.from(this.identity.staticKeyPair.publicKey),
      pairedHosts: this.pairedHosts.count(),
      maxPairedHosts: this.pairedHosts.max,
      rulesVersion: this.rulesVersion,
    };
  }

  status(): DeviceStatus {
    return this.guard(() => this.status_());
  }

  private status_(): DeviceStatus {
    const meta = this.activeMeta();
    const fw = this.fw.info();
    const sync = this.sync.state();
    return {
      deviceId: this.identity.deviceId,
      firmwareVersion: fw.version,
      firmwareState: fw.state,
      datasetVersion: meta?.version ?? 0,
      datasetState: datasetState(meta, toUnixSeconds(this.now())),
      datasetCreatedAt: meta?.createdAt ?? 0,
      datasetExpiresAt: meta?.expiresAt ?? 0,
      verificationsServed: this.journal.counter('verifications_served'),
      framesRejected: this.journal.counter('frames_rejected'),
      syncVersion: sync.version,
      syncNextChunk: sync.nextChunk,
      syncTotalChunks: sync.totalChunks,
    };
  }

  /** Local decision for one card. The card number is tokenised at once and never stored. */
  verify(req: VerifyRequest): VerifyResult {
    return this.guard(() => this.verify_(req));
  }

  private verify_(req: VerifyRequest): VerifyResult {
    const now = toUnixSeconds(this.now());
    const r = verifyLocally({ slots: this.slots, cardKey: this.identity.cardKey, merchantCountry: this.merchantCountry(), now, floor: this.floor }, req);
    this.journal.record({ at: now, token: r.token, decision: r.decision, reason: r.reason, datasetVersion: r.datasetVersion });
    return r;
  }

  // ------------------------------------------------------------------ dataset sync

  syncBegin(signedManifest: Uint8Array): TransferState {
    return this.guard(() => this.sync.begin(signedManifest));
  }
  syncChunk(version: number, index: number, data: Uint8Array): TransferState {
    return this.guard(() => this.sync.chunk(version, index, data));
  }
  syncCommit(version: number): { activeVersion: number } {
    return this.guard(() => this.sync.commit(version));
  }
  /** Drop the partial dataset of `version` (0 = whatever is in progress). Idempotent. */
  syncAbort(version: number): void {
    this.guard(() => this.sync.abort(version));
  }
  syncState(): TransferState {
    return this.guard(() => this.sync.state());
  }

  // ------------------------------------------------------------------ firmware

  firmware(): FirmwareInfo {
    return this.guard(() => this.fw.info());
  }
  fwBegin(signedManifest: Uint8Array): TransferState {
    return this.guard(() => this.fw.begin(signedManifest));
  }
  fwChunk(version: number, index: number, data: Uint8Array): TransferState {
    return this.guard(() => this.fw.chunk(version, index, data));
  }
  /** Verify and install on trial; the emulator then "reboots" (close + open runs the boot check). */
  fwCommit(version: number): { version: number; state: FirmwareState } {
    return this.guard(() => this.fw.commit(version));
  }
  fwConfirm(version: number): { version: number; state: FirmwareState } {
    return this.guard(() => this.fw.confirm(version));
  }
  fwAbort(version: number): void {
    this.guard(() => this.fw.abort(version));
  }
  fwState(): TransferState {
    return this.guard(() => this.fw.state());
  }

  // ------------------------------------------------------------------ misc

  /** Count a frame the link layer rejected (bad CRC, bad MAC, replay...). */
  countRejectedFrame(): void {
    if (!this.closed) this.journal.increment('frames_rejected');
  }

  merchantCountry(): string | null {
    return this.merchantCountryCache;
  }

  setMerchantCountry(country: string | null): void {
    if (country !== null && (typeof country !== 'string' || !COUNTRY_RE.test(country))) {
      throw new ProtocolError('INVALID_FIELD', 'merchant country must be ISO 3166-1 alpha-2 (upper case)', 'merchantCountry');
    }
    this.settings.set('merchant_country', country);
    this.merchantCountryCache = country;
  }

  /** Most recent journal rows (tokens, never card numbers). */
  recentVerifications(limit = 100): JournalEntry[] {
    return this.guard(() => this.journal.recent(limit));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.journal.close();
    this.db.close();
  }

  private open_(): void {
    if (this.closed) throw new ProtocolError('INTERNAL', 'device core is closed');
  }

  /** Run fn on an open core; anything a library throws (SQLite I/O...) comes out as a ProtocolError. */
  private guard<T>(fn: () => T): T {
    this.open_();
    try {
      return fn();
    } catch (e) {
      throw asProtocolError(e, 'INTERNAL');
    }
  }
}
