// Downloads releases (dataset snapshots, deltas, firmware) from the network service and checks
// them completely on the bridge BEFORE anything goes to a device:
//   1. the signed manifest verifies against the trusted Ed25519 key (see trustedKey());
//   2. it is the release that was asked for: kind, version (the one the service announced as
//      latest), delta base, not expired, and not older than a version this bridge already saw
//      signed (a replayed old manifest is refused here, not only by the device);
//   3. every chunk matches the hash chain (chunk 0 ← manifest, chunk i+1 ← trailer of chunk i);
//   4. snapshots and firmware: SHA-256 of the whole payload equals the manifest's contentHash
//      (a delta's content hash can only be checked after applying it: the device does that).
// Verified chunks land in a content-addressed cache under the bridge data dir, so several devices
// and later retries reuse them (ChunkCache).
//
// Trusted key, in this order:
//   - configured (`signingKey` option / `precheck sync --signing-key`): authoritative;
//   - pinned: `<dataDir>/sync/signing-key.json`, written on first contact;
//   - first contact: GET /v1/keys/dataset, then pinned (trust on first use).
// Why TOFU is acceptable as the default: the device is the final authority, it was provisioned
// with the service's key and refuses anything else; the bridge check exists to refuse forged data
// early (no link time wasted, nothing half-sent) and to notice a key change loudly: after pinning,
// a service that signs with another key is SIGNING_KEY_CHANGED until the operator acts.
//
// HTTP: undici `request` with a per-request timeout and a small retry loop (network errors,
// 429 and 5xx, exponential backoff). Hand-written rather than undici's RetryAgent because the
// answers need classifying (404 DELTA_UNAVAILABLE means "take the snapshot", not "retry").
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { NetworkClient, NetworkError } from '../network/network-client.ts';
import { chunkPiece, expectedChunkLength, nextChunkHash } from '../../protocol/dataset/chunks.ts';
import { keyIdOf, openSignedManifest } from '../../protocol/dataset/manifest.ts';
import type { DatasetManifest, ManifestKind } from '../../protocol/dataset/types.ts';
import { isProtocolError } from '../../protocol/errors.ts';
import { ChunkCache } from './chunk-cache.ts';
import { SyncError } from './errors.ts';
import { checkNowMs, systemNowMs, toUnixSeconds, type NowMs } from '../../runtime/clock.ts';

export interface FetcherOptions {
  /** Base URL of the network service, e.g. http://127.0.0.1:8700 */
  serviceUrl: string;
  /** Bearer key (bridge or admin); the dataset routes need one. */
  apiKey: string | null;
  /** Bridge data dir: cache and pinned key live under `<dataDir>/sync/`. */
  dataDir: string;
  /** Configured trusted signing key (raw 32 bytes); when absent the key is pinned on first contact. */
  signingKey?: Uint8Array | null;
  timeoutMs?: number;
  retries?: number;
  backoffMs?: number;
  /**
   * The bridge's service client: its breaker and retry policy hold for sync too (a dead service
   * is one fast failure for checkouts and syncs alike). Without one the fetcher makes its own.
   */
  client?: NetworkClient | null;
  /** Parallel chunk downloads (default 8). */
  concurrency?: number;
  /** Wall clock, ms (runtime/clock.ts); manifests' expiresAt are Unix seconds. */
  now?: NowMs;
}

export interface LatestDataset {
  version: number;
  createdAt: number;
  expiresAt: number;
  chunkCount: number;
  bytes: number;
  /** How old the service's newest published data is (service clock); absent from older services. */
  ageSeconds?: number;
  /** Age of the oldest change the service has not published yet; null: none pending. */
  oldestUnpublishedChangeAgeSeconds?: number | null;
}
export interface LatestFirmware {
  version: number;
  name: string | null;
  createdAt: number;
  chunkCount: number;
  bytes: number;
}

export type ReleaseSource = 'snapshot' | 'delta' | 'firmware';

export interface PreparedRelease {
  source: ReleaseSource;
  manifest: DatasetManifest;
  manifestBytes: Uint8Array;
  /** Verified chunks, in order. */
  chunks: Uint8Array[];
  /** Sum of chunk lengths (what goes over the link besides the manifest). */
  bytes: number;
  /** Downloaded now vs found in the cache. */
  downloadedChunks: number;
  cachedChunks: number;
}

export type TrustSource = 'configured' | 'pinned' | 'first-contact';

interface PinFile {
  publicKey: string;
  keyId: string;
  pinnedAt: string;
  serviceUrl: string;
}
interface StateFile {
  highest: { dataset: number; firmware: number };
}

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class SyncFetcher {
  readonly cache: ChunkCache;
  private readonly base: string;
  private readonly dir: string;
  private readonly client: NetworkClient;
  private readonly ownsClient: boolean;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly concurrency: number;
  private readonly now: NowMs;
  private trust: { key: Uint8Array; source: TrustSource } | null = null;
  /** Releases verified in this process, by cache key (several devices share one download). */
  private readonly releases = new Map<string, Promise<PreparedRelease>>();
  /** Bytes downloaded from the service (chunks + manifests). */
  downloadedBytes = 0;

  constructor(private readonly opts: FetcherOptions) {
    if (!opts.serviceUrl) throw new SyncError('NOT_CONFIGURED', 'no network service URL configured (network.serviceUrl / PRECHECK_SERVICE_URL)');
    this.base = opts.serviceUrl.replace(/\/+$/, '');
    this.dir = path.join(opts.dataDir, 'sync');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.cache = new ChunkCache(path.join(this.dir, 'chunks'));
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.retries = opts.retries ?? 2;
    this.backoffMs = opts.backoffMs ?? 200;
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
    this.now = opts.now ? checkNowMs(opts.now, 'SyncFetcher now') : systemNowMs;
    this.ownsClient = !opts.client;
    this.client =
      opts.client ??
      new NetworkClient({ baseUrl: this.base, apiKey: opts.apiKey, timeoutMs: this.timeoutMs, retries: this.retries, backoffMs: this.backoffMs, backoffMaxMs: 5_000, breaker: { failureThreshold: 5, resetMs: 30_000 } });
    if (opts.signingKey) {
      if (opts.signingKey.length !== 32) throw new SyncError('NOT_CONFIGURED', 'the configured signing key must be 32 bytes (64 hex characters)');
      this.trust = { key: Uint8Array.from(opts.signingKey), source: 'configured' };
    }
  }

  get serviceUrl(): string {
    return this.base;
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close().catch(() => undefined);
  }

  // ------------------------------------------------------------------ HTTP

  /** GET through the service client (breaker, retries); its failures become SyncErrors. */
  private async get(p: string, okStatuses: number[] = [200], retries = this.retries): Promise<HttpAnswer> {
    try {
      return await this.client.get(p, { okStatuses, timeoutMs: this.timeoutMs, retries });
    } catch (e) {
      if (!(e instanceof NetworkError)) throw e;
      if (e.code === 'NETWORK_REJECTED') throw new SyncError('SERVICE_REJECTED', e.message, { cause: e });
      // The service answered 429/5xx ("PATH: HTTP 503 …"), or did not answer at all.
      if (e.kind === 'status' || e.kind === 'rate-limited') throw new SyncError('SERVICE_UNAVAILABLE', e.message, { cause: e });
      const why = /\(([^()]+)\)$/.exec(e.message)?.[1] ?? e.message;
      throw new SyncError('SERVICE_UNAVAILABLE', `network service ${this.base} unreachable (${why}) after ${e.kind === 'breaker' ? 0 : retries + 1} attempt(s)`, { cause: e });
    }
  }

  private async getJson<T>(p: string, retries = this.retries): Promise<T | null> {
    const r = await this.get(p, [200, 404], retries);
    if (r.status === 404) return null;
    try {
      return JSON.parse(r.body.toString('utf8')) as T;
    } catch {
      throw new SyncError('SERVICE_REJECTED', `${p}: answer is not JSON`);
    }
  }

  // ------------------------------------------------------------------ trust

  private pinPath(): string {
    return path.join(this.dir, 'signing-key.json');
  }

  /** The key manifests must verify with, and where it came from. */
  async trustedKey(): Promise<{ key: Uint8Array; keyId: string; source: TrustSource }> {
    if (!this.trust) {
      const pinned = readJson<PinFile>(this.pinPath());
      if (pinned && /^[0-9a-f]{64}$/.test(pinned.publicKey)) {
        this.trust = { key: new Uint8Array(Buffer.from(pinned.publicKey, 'hex')), source: 'pinned' };
      } else {
        const key = await this.announcedKey();
        const pin: PinFile = { publicKey: Buffer.from(key).toString('hex'), keyId: keyIdOf(key), pinnedAt: new Date().toISOString(), serviceUrl: this.base };
        writeJsonAtomic(this.pinPath(), pin);
        this.trust = { key, source: 'first-contact' };
      }
    }
    return { key: this.trust.key, keyId: keyIdOf(this.trust.key), source: this.trust.source };
  }

  private async announcedKey(): Promise<Uint8Array> {
    const k = await this.getJson<{ algorithm?: string; publicKey?: string }>('/v1/keys/dataset');
    if (!k || k.algorithm !== 'Ed25519' || typeof k.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(k.publicKey)) {
      throw new SyncError('SERVICE_REJECTED', '/v1/keys/dataset: no Ed25519 public key in the answer');
    }
    return new Uint8Array(Buffer.from(k.publicKey, 'hex'));
  }

  private async openManifest(bytes: Uint8Array, what: string): Promise<DatasetManifest> {
    const { key, source } = await this.trustedKey();
    try {
      return openSignedManifest(bytes, [key]);
    } catch (e) {
      if (isProtocolError(e) && e.code === 'SIGNATURE_INVALID') {
        // Tell a forged manifest from a service that changed keys.
        let announced: Uint8Array | null = null;
        try {
          announced = await this.announcedKey();
        } catch {
          /* keep the plain refusal */
        }
        if (announced && Buffer.compare(Buffer.from(announced), Buffer.from(key)) !== 0) {
          throw new SyncError(
            'SIGNING_KEY_CHANGED',
            `${what}: the service now announces signing key ${keyIdOf(announced)}, but this bridge trusts ${keyIdOf(key)} (${source}); ` +
              `if the service really rotated its key, re-provision the devices and pass --signing-key or delete ${this.pinPath()}`,
          );
        }
        throw new SyncError('SIGNATURE_INVALID', `${what}: manifest signature does not verify with the trusted key ${keyIdOf(key)} (${source}); refused`);
      }
      throw new SyncError('MANIFEST_REJECTED', `${what}: ${isProtocolError(e) ? `${e.code}: ${e.message}` : String(e)}`);
    }
  }

  // ------------------------------------------------------------------ anti-rollback memory

  private statePath(): string {
    return path.join(this.dir, 'state.json');
  }
  private highest(kind: 'dataset' | 'firmware'): number {
    return readJson<StateFile>(this.statePath())?.highest?.[kind] ?? 0;
  }
  private noteSeen(kind: 'dataset' | 'firmware', version: number): void {
    const s = readJson<StateFile>(this.statePath()) ?? { highest: { dataset: 0, firmware: 0 } };
    if ((s.highest[kind] ?? 0) >= version) return;
    s.highest[kind] = version;
    writeJsonAtomic(this.statePath(), s);
  }

  // ------------------------------------------------------------------ metadata

  /**
   * Newest dataset, or null when the service has published none yet. `retries: 0` for a poll that
   * asks again soon anyway (the follower): a dead service then costs the shared breaker one failure
   * per poll, not one per attempt.
   */
  async latestDataset(o: { retries?: number } = {}): Promise<LatestDataset | null> {
    const d = await this.getJson<LatestDataset>('/v1/datasets/latest', o.retries);
    if (!d) return null;
    if (!isU32(d.version)) throw new SyncError('SERVICE_REJECTED', '/v1/datasets/latest: no valid version in the answer');
    return d;
  }

  async latestFirmware(): Promise<LatestFirmware | null> {
    const f = await this.getJson<LatestFirmware>('/v1/firmware/latest');
    if (!f) return null;
    if (!isU32(f.version)) throw new SyncError('SERVICE_REJECTED', '/v1/firmware/latest: no valid version in the answer');
    return f;
  }

  // ------------------------------------------------------------------ releases

  /**
   * What a device at `fromVersion` needs to reach `target`: the delta when the service has one,
   * else the snapshot. Both fully verified (see the header).
   */
  async datasetRelease(target: number, fromVersion: number): Promise<PreparedRelease> {
    if (fromVersion > 0 && fromVersion < target) {
      const delta = await this.memo(`delta:${fromVersion}-${target}`, () => this.fetchDelta(fromVersion, target));
      if (delta) return delta;
    }
    return (await this.memo(`snapshot:${target}`, () => this.fetchRelease('snapshot', target)))!;
  }

  async snapshotRelease(version: number): Promise<PreparedRelease> {
    return (await this.memo(`snapshot:${version}`, () => this.fetchRelease('snapshot', version)))!;
  }

  async firmwareRelease(version: number): Promise<PreparedRelease> {
    return (await this.memo(`firmware:${version}`, () => this.fetchRelease('firmware', version)))!;
  }

  /** Forget verified releases held in memory (the disk cache stays). */
  forget(): void {
    this.releases.clear();
  }

  private memo(key: string, make: () => Promise<PreparedRelease | null>): Promise<PreparedRelease | null> {
    let p = this.releases.get(key) as Promise<PreparedRelease | null> | undefined;
    if (!p) {
      p = make();
      this.releases.set(key, p as Promise<PreparedRelease>);
      // a failed download is not remembered: the next device or run tries again
      p.then(
        (r) => {
          if (!r) this.releases.delete(key);
        },
        () => this.releases.delete(key),
      );
    }
    return p;
  }

  private async fetchDelta(from: number, to: number): Promise<PreparedRelease | null> {
    const p = `/v1/datasets/delta?from=${from}&to=${to}`;
    const r = await this.get(p, [200, 404]);
    if (r.status === 404) return null; // DELTA_UNAVAILABLE (or unknown version): take the snapshot
    this.downloadedBytes += r.body.length;
    const chunksUrl = headerOf(r.headers, 'x-chunks-url') ?? `/v1/datasets/delta/${from}-${to}/chunks/`;
    if (!/^\/v1\/datasets\/delta\/\d+-\d+\/chunks\/$/.test(chunksUrl)) throw new SyncError('SERVICE_REJECTED', `${p}: unexpected x-chunks-url`);
    const manifestBytes = new Uint8Array(r.body);
    const m = await this.openManifest(manifestBytes, `delta ${from}→${to}`);
    this.checkManifest(m, 'delta', to, 'dataset');
    if (m.baseVersion !== from) throw new SyncError('MANIFEST_REJECTED', `delta ${from}→${to}: manifest says base ${m.baseVersion}; refused`);
    return this.fetchChunks('delta', m, manifestBytes, (n) => `${chunksUrl}${n}`);
  }

  private async fetchRelease(kind: 'snapshot' | 'firmware', version: number): Promise<PreparedRelease> {
    const prefix = kind === 'snapshot' ? '/v1/datasets' : '/v1/firmware';
    const r = await this.get(`${prefix}/${version}/manifest`, [200, 404]);
    if (r.status === 404) throw new SyncError('SERVICE_REJECTED', `${prefix}/${version}/manifest: not found (the service pruned it?)`);
    this.downloadedBytes += r.body.length;
    const manifestBytes = new Uint8Array(r.body);
    const m = await this.openManifest(manifestBytes, `${kind} ${version}`);
    this.checkManifest(m, kind, version, kind === 'snapshot' ? 'dataset' : 'firmware');
    return this.fetchChunks(kind, m, manifestBytes, (n) => `${prefix}/${version}/chunks/${n}`);
  }

  private checkManifest(m: DatasetManifest, kind: ManifestKind, version: number, family: 'dataset' | 'firmware'): void {
    const what = `${kind} ${version}`;
    if (m.kind !== kind) throw new SyncError('MANIFEST_REJECTED', `${what}: the signed manifest is a ${m.kind}; refused`);
    if (m.version !== version) {
      throw new SyncError('MANIFEST_REJECTED', `${what}: the signed manifest is for version ${m.version} (a replayed or mixed-up release); refused`);
    }
    if (family === 'dataset' && toUnixSeconds(this.now()) >= m.expiresAt) {
      throw new SyncError('MANIFEST_REJECTED', `${what}: expired at ${new Date(m.expiresAt * 1000).toISOString()}; refused (the service should publish a fresh one)`);
    }
    const seen = this.highest(family);
    if (m.version < seen) {
      throw new SyncError('MANIFEST_REJECTED', `${what}: older than version ${seen} this bridge already received signed; refused (no rollback)`);
    }
    this.noteSeen(family, m.version);
  }

  /** Walk the hash chain: cached chunks by digest, missing ones downloaded `concurrency` at a time. */
  private async fetchChunks(source: ReleaseSource, m: DatasetManifest, manifestBytes: Uint8Array, urlOf: (n: number) => string): Promise<PreparedRelease> {
    const n = m.chunkCount;
    const chunks = new Array<Uint8Array>(n);
    const whole = source === 'delta' ? null : crypto.createHash('sha256');
    let expected: Uint8Array | null = m.firstChunkHash;
    let downloaded = 0;
    let cached = 0;
    let bytes = 0;
    let i = 0;
    while (i < n) {
      const hit = expected ? this.cache.get(expected) : null;
      let batch: Uint8Array[];
      if (hit && hit.length === expectedChunkLength(m, i)) {
        batch = [hit];
        cached++;
      } else {
        const count = Math.min(this.concurrency, n - i);
        batch = await Promise.all(Array.from({ length: count }, (_, k) => this.fetchChunk(urlOf(i + k))));
        downloaded += count;
      }
      for (const data of batch) {
        expected = this.checkChunk(m, i, data, expected);
        chunks[i] = data;
        bytes += data.length;
        whole?.update(chunkPiece(m, i, data));
        i++;
      }
    }
    if (whole && !Buffer.from(m.contentHash).equals(whole.digest())) {
      throw new SyncError('CHUNK_HASH', `${source} ${m.version}: the assembled payload does not match the signed content hash; refused`);
    }
    return { source, manifest: m, manifestBytes, chunks, bytes, downloadedChunks: downloaded, cachedChunks: cached };
  }

  private checkChunk(m: DatasetManifest, i: number, data: Uint8Array, expected: Uint8Array | null): Uint8Array | null {
    const digest = crypto.createHash('sha256').update(data).digest();
    if (!expected || data.length !== expectedChunkLength(m, i) || !digest.equals(Buffer.from(expected))) {
      throw new SyncError('CHUNK_HASH', `${m.kind} ${m.version}: chunk ${i} from the service does not match its hash (tampered or damaged); nothing was sent to any device`);
    }
    this.cache.put(digest, data);
    return nextChunkHash(m, i, data);
  }

  private async fetchChunk(p: string): Promise<Uint8Array> {
    const r = await this.get(p);
    this.downloadedBytes += r.body.length;
    return new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength);
  }
}

// ------------------------------------------------------------------ helpers

function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 0xffffffff;
}

function headerOf(h: HttpAnswer['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}
