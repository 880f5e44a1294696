// The receiving side of a chunked, signed transfer, shared by the dataset sync receiver and the
// firmware receiver: begin (signature, version, expiry; resume if the same manifest is already in
// progress), chunk (strictly in order, hash-chained, stored durably), and payload assembly.
import { ProtocolError, isProtocolError } from '../../protocol/errors.ts';
import { joinChunks, verifyChunk } from '../../protocol/dataset/chunks.ts';
import { openSignedManifest } from '../../protocol/dataset/manifest.ts';
import type { DatasetManifest } from '../../protocol/dataset/types.ts';
import type { TransferKind, TransferStore } from '../store/transfers.ts';
import { toUnixSeconds, type NowMs } from '../../runtime/clock.ts';

export interface TransferState {
  /** version being received, 0 = none */
  version: number;
  nextChunk: number;
  totalChunks: number;
}

export const NO_TRANSFER: TransferState = Object.freeze({ version: 0, nextChunk: 0, totalChunks: 0 });

export interface TransferReceiverDeps {
  kind: TransferKind;
  transfers: TransferStore;
  trustedKeys: () => Uint8Array[];
  /** Wall clock, ms (runtime/clock.ts). */
  now: NowMs;
  /** version currently installed (0 = none) */
  currentVersion: () => number;
  /** extra checks on a verified manifest (kind, base version...) */
  check: (m: DatasetManifest) => void;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

export class TransferReceiver {
  private readonly d: TransferReceiverDeps;
  /** the last verified manifest, so each chunk does not re-verify the signature */
  private opened: { bytes: Uint8Array; manifest: DatasetManifest } | null = null;
  constructor(deps: TransferReceiverDeps) {
    this.d = deps;
  }

  private open(bytes: Uint8Array): DatasetManifest {
    if (this.opened && sameBytes(this.opened.bytes, bytes)) return this.opened.manifest;
    const manifest = openSignedManifest(bytes, this.d.trustedKeys());
    this.opened = { bytes: Uint8Array.from(bytes), manifest };
    return manifest;
  }

  state(): TransferState {
    const t = this.d.transfers.get(this.d.kind);
    return t ? { version: t.version, nextChunk: t.nextChunk, totalChunks: t.totalChunks } : { ...NO_TRANSFER };
  }

  /** The manifest of the transfer in progress (already verified when it began). */
  manifest(): DatasetManifest | null {
    const t = this.d.transfers.get(this.d.kind);
    return t ? this.open(t.manifestBytes) : null;
  }

  private acceptable(m: DatasetManifest): void {
    const current = this.d.currentVersion();
    if (m.version <= current) {
      throw new ProtocolError('DATASET_OLDER', `version ${m.version} is not newer than the installed ${current}`);
    }
    if (toUnixSeconds(this.d.now()) >= m.expiresAt) throw new ProtocolError('DATASET_EXPIRED', `version ${m.version} expired at ${m.expiresAt}`);
    this.d.check(m);
  }

  begin(signedManifest: Uint8Array): TransferState {
    if (!(signedManifest instanceof Uint8Array)) throw new ProtocolError('INVALID_FIELD', 'manifest bytes expected', 'manifest');
    const manifest = this.open(signedManifest);
    const existing = this.d.transfers.get(this.d.kind);
    try {
      this.acceptable(manifest);
    } catch (e) {
      // an in-progress copy of a manifest that is no longer acceptable (expired) is useless
      if (existing && sameBytes(existing.manifestBytes, signedManifest)) this.d.transfers.clearRows(this.d.kind);
      throw e;
    }
    if (existing && sameBytes(existing.manifestBytes, signedManifest)) return this.state(); // resume
    this.d.transfers.start(this.d.kind, signedManifest, manifest.version, manifest.chunkCount, manifest.firstChunkHash, toUnixSeconds(this.d.now()));
    return this.state();
  }

  chunk(version: number, index: number, data: Uint8Array): TransferState {
    const t = this.d.transfers.get(this.d.kind);
    if (!t || t.version !== version) throw new ProtocolError('SYNC_STATE', `no transfer of version ${version} in progress`);
    if (index < t.nextChunk) {
      // a retransmission after a lost answer: harmless if identical
      const stored = this.d.transfers.chunk(this.d.kind, index);
      if (stored && data instanceof Uint8Array && sameBytes(stored, data)) return this.state();
      throw new ProtocolError('SYNC_STATE', `chunk ${index} already received; next is ${t.nextChunk}`, String(t.nextChunk));
    }
    if (index !== t.nextChunk) throw new ProtocolError('SYNC_STATE', `chunk ${index} out of order; next is ${t.nextChunk}`, String(t.nextChunk));
    const manifest = this.open(t.manifestBytes);
    const next = verifyChunk(manifest, index, data, t.nextHash ?? undefined);
    this.d.transfers.putChunk(this.d.kind, index, data, next);
    return this.state();
  }

  /**
   * The verified payload of a complete transfer, with its manifest. Re-checks version and expiry
   * (time passes between begin and commit) and the whole chunk chain as read back from storage.
   */
  completePayload(version: number): { manifest: DatasetManifest; payload: Uint8Array } {
    const t = this.d.transfers.get(this.d.kind);
    if (!t || t.version !== version) throw new ProtocolError('SYNC_STATE', `no transfer of version ${version} in progress`);
    if (t.nextChunk !== t.totalChunks) throw new ProtocolError('SYNC_STATE', `transfer incomplete: ${t.nextChunk}/${t.totalChunks} chunks`);
    return this.dropOnFailure(() => {
      const manifest = this.open(t.manifestBytes);
      this.acceptable(manifest);
      return { manifest, payload: joinChunks(manifest, this.d.transfers.chunks(this.d.kind)) };
    });
  }

  /**
   * Run `fn`; if it fails with a protocol error (bad data, expired, wrong base), the transfer can
   * never succeed, so drop it. Other errors (I/O) keep it for a retry.
   */
  dropOnFailure<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isProtocolError(e) && e.code !== 'INTERNAL') this.d.transfers.clearRows(this.d.kind);
      throw e;
    }
  }

  abort(version: number): void {
    const t = this.d.transfers.get(this.d.kind);
    if (!t) return; // nothing to drop: idempotent
    if (version !== 0 && t.version !== version) throw new ProtocolError('SYNC_STATE', `transfer in progress is version ${t.version}, not ${version}`);
    this.d.transfers.clearRows(this.d.kind);
  }

  finish(): void {
    this.d.transfers.clearRows(this.d.kind);
  }
}
