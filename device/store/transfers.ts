// In-progress transfers (one dataset and one firmware at a time): the signed manifest and every
// verified chunk are stored durably as they arrive, so a transfer resumes after a disconnect or a
// restart at the first missing chunk.
import type { Db } from './database.ts';

export type TransferKind = 'dataset' | 'firmware';

export interface TransferRow {
  kind: TransferKind;
  manifestBytes: Uint8Array;
  version: number;
  totalChunks: number;
  nextChunk: number;
  /** digest the next chunk must have (chunks are hash-chained); null when complete */
  nextHash: Uint8Array | null;
  startedAt: number;
}

export class TransferStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  get(kind: TransferKind): TransferRow | null {
    const r = this.db.prepare(`SELECT * FROM transfer WHERE kind = ?`).get(kind) as
      | { kind: TransferKind; manifest: Buffer; version: number; total_chunks: number; next_chunk: number; next_hash: Buffer | null; started_at: number }
      | undefined;
    if (!r) return null;
    return {
      kind: r.kind,
      manifestBytes: new Uint8Array(r.manifest),
      version: r.version,
      totalChunks: r.total_chunks,
      nextChunk: r.next_chunk,
      nextHash: r.next_hash ? new Uint8Array(r.next_hash) : null,
      startedAt: r.started_at,
    };
  }

  /** Start a transfer, replacing any other of the same kind. */
  start(kind: TransferKind, manifestBytes: Uint8Array, version: number, totalChunks: number, firstHash: Uint8Array, now: number): void {
    this.db.transaction(() => {
      this.clearRows(kind);
      this.db
        .prepare(`INSERT INTO transfer (kind, manifest, version, total_chunks, next_chunk, next_hash, started_at) VALUES (?, ?, ?, ?, 0, ?, ?)`)
        .run(kind, manifestBytes, version, totalChunks, firstHash, now);
    })();
  }

  /** Store chunk `index` and advance, in one transaction. */
  putChunk(kind: TransferKind, index: number, data: Uint8Array, nextHash: Uint8Array | null): void {
    this.db.transaction(() => {
      this.db.prepare(`INSERT OR REPLACE INTO transfer_chunk (kind, idx, data) VALUES (?, ?, ?)`).run(kind, index, data);
      this.db.prepare(`UPDATE transfer SET next_chunk = ?, next_hash = ? WHERE kind = ?`).run(index + 1, nextHash, kind);
    })();
  }

  chunk(kind: TransferKind, index: number): Uint8Array | null {
    const r = this.db.prepare(`SELECT data FROM transfer_chunk WHERE kind = ? AND idx = ?`).get(kind, index) as { data: Buffer } | undefined;
    return r ? new Uint8Array(r.data) : null;
  }

  chunks(kind: TransferKind): Uint8Array[] {
    return (this.db.prepare(`SELECT data FROM transfer_chunk WHERE kind = ? ORDER BY idx`).raw().all(kind) as [Buffer][]).map(([d]) => new Uint8Array(d));
  }

  /** Delete a transfer (inside the caller's transaction if there is one). */
  clearRows(kind: TransferKind): void {
    this.db.prepare(`DELETE FROM transfer_chunk WHERE kind = ?`).run(kind);
    this.db.prepare(`DELETE FROM transfer WHERE kind = ?`).run(kind);
  }
}
