// Row ↔ domain mapping shared by the SQLite and PostgreSQL storages: one copy of each mapper.
// The backends differ only in how a boolean comes back (SQLite 0/1, PostgreSQL true/false):
// flag() reads both.
import type { ApiKeyRecord, DatasetVersionInfo, HistoryRow } from './storage.ts';

export type Row = Record<string, unknown>;

/** A BLOB/BYTEA column as a Uint8Array view (no copy). */
export function bytes(v: unknown): Uint8Array {
  const b = v as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
/** A Uint8Array as a Buffer view for a statement parameter (no copy). */
export const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** A boolean column of either backend; null/absent stays null. */
export function flag(v: unknown): boolean | null {
  return v === null || v === undefined ? null : v === true || v === 1;
}

export function historyRow(r: Row): HistoryRow {
  return {
    at: r.at as number,
    merchant: r.merchant as string,
    amount: r.amount as number,
    currency: r.currency as string,
    gateway: r.gateway as string,
    status: r.status as 'success' | 'failure',
    code: (r.code as string | null) ?? null,
    type: (r.type as string | null) ?? null,
    advice: (r.advice as string | null) ?? null,
    hard: flag(r.hard) === true,
    brand: (r.brand as string | null) ?? null,
    country: (r.country as string | null | undefined) ?? null,
    crossBorder: flag(r.cross_border),
  };
}

export function apiKeyRow(r: Row): ApiKeyRecord {
  return {
    id: r.id as string,
    hash: r.hash as string,
    role: r.role as 'bridge' | 'admin',
    merchant: (r.merchant as string | null) ?? null,
    label: (r.label as string | null) ?? null,
    createdAt: r.created_at as number,
    revokedAt: (r.revoked_at as number | null) ?? null,
  };
}

export function datasetInfo(r: Row): DatasetVersionInfo {
  return {
    version: r.version as number,
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    contentHash: r.content_hash as string,
    chunkCount: r.chunk_count as number,
    bytes: r.bytes as number,
  };
}
