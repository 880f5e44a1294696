// Row ↔ domain mapping shared by the SQLite and PostgreSQL storages: one copy of each mapper (and
// the one history trimming rule of the dataset tables). The backends differ only in how a boolean
// comes back (SQLite 0/1, PostgreSQL true/false): flag() reads both.
import os from 'node:os';
import type { HistoryStatus } from '../../protocol/dataset/types.ts';
import type { ApiKeyRecord, DatasetTables, DatasetVersionInfo, DeviceRecord, FirmwareInfo, HistoryRow, RestrictedEntry } from './storage.ts';

export type Row = Record<string, unknown>;

/** A BLOB/BYTEA column as a Uint8Array view (no copy). */
export function bytes(v: unknown): Uint8Array {
  const b = v as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
/** A Uint8Array as a Buffer view for a statement parameter (no copy). */
export const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

const LITTLE_ENDIAN = os.endianness() === 'LE';

/**
 * A trust attempt's features as SQLite stores them since this encoding: float64 little-endian, 8
 * bytes each (exact, and a fifth of the CPU of the JSON text every attempt's write-behind made;
 * the row shrinks by about a third). The column is declared TEXT; SQLite keeps a BLOB as given.
 */
export function featuresBlob(f: ArrayLike<number>): Buffer {
  // The service's Float64Array as it is (a view; SQLite copies it when bound) on a little-endian host.
  if (LITTLE_ENDIAN && f instanceof Float64Array) return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  const b = Buffer.allocUnsafe(f.length * 8);
  for (let i = 0; i < f.length; i++) b.writeDoubleLE(f[i], i * 8);
  return b;
}

/**
 * The JSON text of stored features: a TEXT row (written before featuresBlob) as it is, a BLOB as
 * the exact text JSON.stringify gave for the same numbers (-0 as 0, non-finite as null) — so
 * training reads the same values whichever way a row was written.
 */
export function featuresText(v: unknown): string {
  if (typeof v === 'string') return v;
  const b = v as Buffer;
  const a = new Array<number>(b.length >>> 3);
  for (let i = 0; i < a.length; i++) a[i] = b.readDoubleLE(i * 8);
  return JSON.stringify(a);
}

/** The manifest or chunk BLOB of a release row (dataset, delta, firmware); null without a row. */
export function blobOf(r: Row | undefined, column: 'manifest' | 'data'): Uint8Array | null {
  return r ? bytes(r[column]) : null;
}

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
    status: r.status as HistoryStatus,
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

export function firmwareInfo(r: Row): FirmwareInfo {
  return { version: r.version as number, name: (r.name as string | null) ?? null, createdAt: r.created_at as number, chunkCount: r.chunk_count as number, bytes: r.bytes as number };
}

export function restrictedRow(r: Row): RestrictedEntry {
  return {
    token: bytes(r.token),
    bin: (r.bin as string | null) ?? null,
    last4: (r.last4 as string | null) ?? null,
    reason: r.reason as string,
    source: r.source as string,
    addedAt: r.added_at as number,
    expiresAt: (r.expires_at as number | null) ?? null,
  };
}

/** A devices row with its device_hosts rows. */
export function deviceRow(r: Row, hosts: Row[]): DeviceRecord {
  return {
    id: r.id as string,
    merchant: r.merchant as string,
    kind: r.kind as string,
    label: (r.label as string | null) ?? null,
    publicKey: (r.public_key as string | null) ?? null,
    createdAt: r.created_at as number,
    hosts: hosts.map((h) => ({ hostId: h.host_id as string, publicKey: (h.public_key as string | null) ?? null, pairedAt: h.paired_at as number })),
  };
}

/** Keep the newest `max` events per token, but never drop a hard decline (in place). */
export function trimHistory(history: DatasetTables['history'], max: number): void {
  for (const h of history) {
    if (h.events.length > max) {
      const hard = h.events.filter((e) => e.hard);
      const recent = h.events.filter((e) => !e.hard).slice(-Math.max(0, max - hard.length));
      h.events = [...hard, ...recent].sort((a, b) => a.at - b.at);
    }
  }
}
