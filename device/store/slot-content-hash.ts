// Content hash of a dataset slot, computed straight from its SQLite tables.
//
// The hash is SHA-256 over the canonical CBOR encoding (protocol/dataset/codec.ts). Reading a slot
// of 10^6 cards back into DatasetContent objects and re-encoding it cost ~5 s (one JS array, one
// Buffer and one string per row, then a sort and a 16 MB encode), more than installing the whole
// snapshot. Here the big token sections never become JS rows: SQLite concatenates each section's
// tokens in canonical order (`group_concat(token, '' ORDER BY token)`, ~0.1 s per 10^6 tokens) and
// only the CBOR headers around them are written here. Everything else — the history entries (in
// batches) and the small sections — goes through the protocol's own `encodeContent`, so every
// encoding rule but the three big-section headers lives in one place; the headers are checked
// against `encodeContent` by test/device/core/slot-content-hash.test.ts.
//
// Why the group_concat cast is exact: the database encoding is UTF-8, so SQLite turns a BLOB into
// TEXT without translation, group_concat appends by byte length (NULs included), and CAST(... AS
// BLOB) takes the bytes back unchanged. `ORDER BY` inside an aggregate needs SQLite >= 3.44
// (better-sqlite3 bundles its own SQLite, 3.53 here).
import crypto from 'node:crypto';
import { ProtocolError } from '../../protocol/errors.ts';
import { encodeCbor } from '../../protocol/cbor.ts';
import { encodeContent, historyEntryBytes, normHistoryEntry } from '../../protocol/dataset/codec.ts';
import { cborHead, splitSmall } from '../../protocol/dataset/dataset-index.ts';
import type { DatasetContent, GatewayHealth, HistoryEntry, HistoryEvent } from '../../protocol/dataset/types.ts';
import { ROUTE_COLUMNS, routesFromRows } from './route-rows.ts';
import type { Db } from './database.ts';
import type { Slot } from './schema.ts';
import { readFloor } from './floor-rows.ts';

const HISTORY_BATCH = 1024;
/** Rows per SQLite call when every history row has its stored encoding (bounded memory per call). */
const HISTORY_PAGE = 8192;

const ARRAY = 4;
const BYTES = 2;

function emptySections(): DatasetContent {
  return { restricted: [], knownGood: [], history: [], binRules: [], prompts: [], routes: [] };
}

/** The bytes of `entries` inside encodeContent({history: entries}) (the entries are in token order). */
function historyEntriesBytes(entries: HistoryEntry[], emptyLength: number): Uint8Array {
  const c = emptySections();
  c.history = entries;
  const enc = encodeContent(c);
  const start = 8 + cborHead(ARRAY, entries.length).length; // MAP 00 01 01 80 02 40 03 | ARRAY(k)
  const end = enc.length - (emptyLength - 9); // the empty tail 04 80 05 80 06 80
  if (enc[7] !== 0x03 || end < start) throw new ProtocolError('INTERNAL', 'unexpected history encoding layout');
  return enc.subarray(start, end);
}

/** SHA-256 of the canonical encoding of the dataset held in `slot`, without materialising it. */
export function slotContentHash(db: Db, slot: Slot, pageRows = HISTORY_PAGE): Uint8Array {
  // The BLOB → TEXT → BLOB round trip below is byte-exact only in a UTF-8 database (ours always is).
  if (db.pragma('encoding', { simple: true }) !== 'UTF-8') throw new ProtocolError('INTERNAL', 'device database is not UTF-8');
  const hash = crypto.createHash('sha256');

  // Small sections (bounded by LIMITS.smallSection) and the filter: through the real encoder.
  const small = emptySections();
  small.binRules = db.prepare(`SELECT prefix, action, reason FROM bin_rules_${slot}`).all() as DatasetContent['binRules'];
  small.prompts = db.prepare(`SELECT code, lang, message FROM prompts_${slot}`).all() as DatasetContent['prompts'];
  small.routes = routesFromRows(db.prepare(`SELECT ${ROUTE_COLUMNS} FROM routes_${slot}`).all() as Parameters<typeof routesFromRows>[0]);
  const health = db.prepare(`SELECT gateway, eliminated_until AS eliminatedUntil FROM health_${slot}`).all() as GatewayHealth[];
  if (health.length > 0) small.gatewayHealth = health;
  const floor = readFloor(db, slot);
  if (floor) small.floorLimits = floor;
  const f = db.prepare(`SELECT seed, segment_length, segment_count, fingerprints FROM filter_${slot} WHERE id = 1`).get() as
    | { seed: number; segment_length: number; segment_count: number; fingerprints: Buffer }
    | undefined;
  if (f) small.restrictedFilter = { seed: f.seed, segmentLength: f.segment_length, segmentCount: f.segment_count, fingerprints: new Uint8Array(f.fingerprints) };
  const { head, tail } = splitSmall(encodeContent(small));
  hash.update(head);

  // 1: restricted — [[reason, packed tokens], ...], groups ascending by reason (UTF-8 bytes =
  // SQLite's BINARY collation), tokens ascending within a group.
  const groups = db
    .prepare(`SELECT reason, CAST(group_concat(token, '' ORDER BY token) AS BLOB) AS tokens FROM restricted_${slot} GROUP BY reason ORDER BY reason`)
    .raw()
    .all() as [string, Buffer][];
  hash.update(Uint8Array.of(0x01));
  hash.update(cborHead(ARRAY, groups.length));
  for (const [reason, tokens] of groups) {
    hash.update(Uint8Array.of(0x82));
    hash.update(encodeCbor(reason)); // the codec's own encoder: same text-string form
    hash.update(cborHead(BYTES, tokens.length));
    hash.update(tokens);
  }

  // 2: knownGood — one packed byte string, ascending (the primary key order).
  const kg = (db.prepare(`SELECT CAST(group_concat(token, '' ORDER BY token) AS BLOB) FROM known_good_${slot}`).pluck().get() as Buffer | null) ?? Buffer.alloc(0);
  hash.update(Uint8Array.of(0x02));
  hash.update(cborHead(BYTES, kg.length));
  hash.update(kg);

  // 3: history — entries ascending by token; a row's stored encoding (`enc`, see
  // storeHistoryEncodings) when it has one, else the entry's encoding from encodeContent.
  const historyCount = (db.prepare(`SELECT count(*) FROM history_${slot}`).pluck().get() as number) ?? 0;
  hash.update(Uint8Array.of(0x03));
  hash.update(cborHead(ARRAY, historyCount));
  const emptyLength = encodeContent(emptySections()).length;
  let batch: HistoryEntry[] = [];
  let seen = 0;
  // Every row has its encoding (the case after the first delta, see storeHistoryEncodings): SQLite
  // concatenates them in token order, a batch of rows per call, as for the token sections — no JS
  // step per card (the row-by-row loop below grew with the slot on every delta). The partial index
  // counts the rows without one without scanning the others.
  const missing = db.prepare(`SELECT count(*) FROM history_${slot} INDEXED BY history_${slot}_enc_null WHERE enc IS NULL`).pluck().get() as number;
  if (missing === 0) {
    const page = db.prepare(
      `SELECT CAST(group_concat(enc, '' ORDER BY token) AS BLOB), count(*), max(token) FROM (SELECT token, enc FROM history_${slot} WHERE token > ? ORDER BY token LIMIT ${Math.max(1, Math.floor(pageRows))})`,
    );
    let after: Buffer = Buffer.alloc(0); // every token sorts after the empty BLOB
    for (;;) {
      const [bytes, n, last] = page.raw().get(after) as [Buffer | null, number, Buffer | null];
      if (n === 0 || !bytes || !last) break;
      hash.update(bytes);
      seen += n;
      after = last;
    }
    if (seen !== historyCount) throw new ProtocolError('INTERNAL', 'history changed while hashing');
    hash.update(tail);
    return new Uint8Array(hash.digest());
  }
  // brand and events are read only for a row without its encoding (no JSON text per row otherwise)
  const rows = db.prepare(`SELECT token, CASE WHEN enc IS NULL THEN brand END, CASE WHEN enc IS NULL THEN events END, enc FROM history_${slot} ORDER BY token`);
  for (const [token, brand, events, enc] of rows.raw().iterate() as Iterable<[Buffer, string | null, string, Buffer | null]>) {
    seen++;
    if (enc !== null) {
      if (batch.length) hash.update(historyEntriesBytes(batch, emptyLength));
      batch = [];
      hash.update(enc);
      continue;
    }
    const e: HistoryEntry = { token: new Uint8Array(token), events: JSON.parse(events) as HistoryEvent[] };
    if (brand !== null) e.brand = brand;
    batch.push(e);
    if (batch.length === HISTORY_BATCH) {
      hash.update(historyEntriesBytes(batch, emptyLength));
      batch = [];
    }
  }
  if (batch.length) hash.update(historyEntriesBytes(batch, emptyLength));
  if (seen !== historyCount) throw new ProtocolError('INTERNAL', 'history changed while hashing');

  hash.update(tail);
  return new Uint8Array(hash.digest());
}

/**
 * Stores the canonical encoding of every history row of `slot` that has none yet (after a
 * snapshot install: all of them, once; after a delta: the rows it upserted), so the content hash
 * of the next delta reads bytes instead of re-encoding every card. Same bytes as encodeContent's
 * (historyEntryBytes of the normalised entry; test/protocol/dataset/dataset-index.test.ts).
 */
export function storeHistoryEncodings(db: Db, slot: Slot): number {
  // The partial index history_<slot>_enc_null (schema v6) holds exactly these rows: no scan of
  // every card per delta.
  const rows = db.prepare(`SELECT token, brand, events FROM history_${slot} INDEXED BY history_${slot}_enc_null WHERE enc IS NULL`).raw().all() as [Buffer, string | null, string][];
  const put = db.prepare(`UPDATE history_${slot} SET enc = ? WHERE token = ?`);
  for (const [token, brand, events] of rows) {
    const e: HistoryEntry = { token: new Uint8Array(token), events: JSON.parse(events) as HistoryEvent[] };
    if (brand !== null) e.brand = brand;
    put.run(historyEntryBytes(normHistoryEntry(e, 'history')), token);
  }
  return rows.length;
}
