// One dataset version held for incremental publishing: the canonical sections with each history
// entry's encoding cached and the token sections packed (16 bytes a card, one byte string per
// reason group), so that the next version is built from this one plus the changed rows.
//
// Why: the service publishes about once per quiet gap in the outcomes. Rebuilding from scratch
// validated, sorted and CBOR-encoded every card and history entry each time, decoded the previous
// versions back from storage and diffed them as objects (a month of the market simulator's steady
// traffic cost hours; a delta at 10^7 restricted cards ran out of heap). Here a build re-encodes
// only the history entries that changed (an unchanged one keeps its object and bytes), splices the
// payload from the cached pieces, and diffs against a kept version by walking both sorted sections
// side by side (identical objects skip the comparison).
//
// Byte identity: encode() equals encodeContent() of the same content, and deltaFrom(base) encodes
// (encodeDelta) to the same bytes as diffContent(base content, this content) — the codec is
// canonical and every piece here goes through the codec's own functions
// (test/protocol/dataset/dataset-index.test.ts checks both over random sequences of changes).
import { ProtocolError } from '../errors.ts';
import { encodeCbor } from '../cbor.ts';
import {
  checkDisjoint,
  compareStrings,
  decodeContentPacked,
  encodeContent,
  historyEntryBytes,
  normHistoryEntry,
  normRestricted,
  normalizeContent,
  packTokens,
  sortPackedOrder,
  tokenKey,
} from './codec.ts';
import { diffContent, sameEvents } from './delta.ts';
import { TOKEN_BYTES, compareTokensAt } from './token.ts';
import { LIMITS, checkToken, fail } from './validate.ts';
import type { DatasetContent, DatasetDelta, HistoryEntry, RestrictedEntry } from './types.ts';

/** CBOR head (major type, length) in the shortest form, as cbor-x writes it. */
export function cborHead(major: number, length: number): Uint8Array {
  const m = major << 5;
  if (length < 24) return Uint8Array.of(m | length);
  if (length < 0x100) return Uint8Array.of(m | 24, length);
  if (length < 0x10000) return Uint8Array.of(m | 25, length >> 8, length & 0xff);
  if (length < 0x100000000) return Uint8Array.of(m | 26, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  throw new ProtocolError('TOO_LARGE', 'dataset section too large to encode');
}
const ARRAY = 4;
const BYTES = 2;

/**
 * encodeContent of a content whose restricted, knownGood and history are empty is
 *   MAP(n) 00 <format> | 01 80 | 02 40 | 03 80 | 04 <binRules> 05 <prompts> 06 <routes> [07 <filter>] [08 <health>] [09 <floor>]
 * (the format depends only on the routes, health and floor limits, which are among the small sections).
 * Returns the head (map + format) and the tail (from key 4 on), checking the fixed bytes between.
 */
export function splitSmall(encoded: Uint8Array): { head: Uint8Array; tail: Uint8Array } {
  const mid = [0x01, 0x80, 0x02, 0x40, 0x03, 0x80];
  if (encoded.length < 9 || mid.some((b, i) => encoded[3 + i] !== b)) throw new ProtocolError('INTERNAL', 'unexpected dataset encoding layout');
  return { head: encoded.subarray(0, 3), tail: encoded.subarray(9) };
}

export interface IndexedHistory {
  /** tokenKey(token): latin1, so string order = byte order */
  key: string;
  /** normalised (validated copy, events in canonical order) */
  entry: HistoryEntry;
  /** its encoding inside the content's history array */
  bytes: Uint8Array;
}

export interface RestrictedGroup {
  reason: string;
  /** the group's tokens, strictly ascending, 16 bytes each */
  packed: Uint8Array;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a === b || Buffer.compare(a, b) === 0;
const smallOnly = (c: DatasetContent): DatasetContent => {
  const s: DatasetContent = { restricted: [], knownGood: [], history: [], binRules: c.binRules, prompts: c.prompts, routes: c.routes };
  if (c.gatewayHealth !== undefined) s.gatewayHealth = c.gatewayHealth;
  if (c.floorLimits !== undefined) s.floorLimits = c.floorLimits;
  if (c.restrictedFilter !== undefined) s.restrictedFilter = c.restrictedFilter;
  return s;
};

/** All restricted tokens in one ascending packed string, with each token's group index. */
function flatten(groups: RestrictedGroup[]): { tokens: Uint8Array; group: Uint32Array } {
  if (groups.length === 1) return { tokens: groups[0].packed, group: new Uint32Array(groups[0].packed.length / TOKEN_BYTES) };
  const total = groups.reduce((a, g) => a + g.packed.length, 0);
  const all = new Uint8Array(total);
  const from = new Uint32Array(total / TOKEN_BYTES);
  let pos = 0;
  groups.forEach((g, gi) => {
    all.set(g.packed, pos);
    from.fill(gi, pos / TOKEN_BYTES, (pos + g.packed.length) / TOKEN_BYTES);
    pos += g.packed.length;
  });
  const order = sortPackedOrder(all);
  const tokens = new Uint8Array(total);
  const group = new Uint32Array(order.length);
  for (let i = 0; i < order.length; i++) {
    tokens.set(all.subarray(order[i] * TOKEN_BYTES, (order[i] + 1) * TOKEN_BYTES), i * TOKEN_BYTES);
    group[i] = from[order[i]];
  }
  return { tokens, group };
}

const plainEvents = (e: unknown): e is HistoryEntry['events'] => Array.isArray(e) && e.every((x) => typeof x === 'object' && x !== null);
const tokenAt = (p: Uint8Array, i: number) => p.slice(i * TOKEN_BYTES, (i + 1) * TOKEN_BYTES);

export class DatasetIndex {
  private byKey: Map<string, IndexedHistory> | null = null;
  private encoded: Uint8Array | null = null;

  private constructor(
    /** ascending by reason (UTF-8 bytes), disjoint */
    readonly restricted: readonly RestrictedGroup[],
    /** packed, strictly ascending */
    readonly knownGood: Uint8Array,
    /** ascending by token */
    readonly history: readonly IndexedHistory[],
    /** binRules, prompts, routes, gatewayHealth, floorLimits and restrictedFilter, normalised; the other sections empty */
    readonly small: DatasetContent,
  ) {}

  /**
   * The index of `c` (validated as encodeContent validates it). With `prev`, a history entry equal
   * to prev's keeps prev's object and bytes (only changed entries are validated and encoded), and
   * an unchanged token section keeps prev's buffer.
   */
  static build(c: DatasetContent, prev: DatasetIndex | null = null): DatasetIndex {
    if (typeof c !== 'object' || c === null) fail('content', 'object expected');
    const restricted = restrictedGroups(c, prev);
    if (!Array.isArray(c.knownGood)) fail('knownGood', 'array expected');
    let knownGood = packTokens(c.knownGood.map((k, i) => checkToken(k?.token, `knownGood[${i}].token`)), 'knownGood');
    if (prev && sameBytes(prev.knownGood, knownGood)) knownGood = prev.knownGood;

    if (!Array.isArray(c.history) || c.history.length > LIMITS.entriesPerSection) fail('history', 'array expected');
    const old = prev?.historyMap() ?? null;
    const history = c.history.map((h, i): IndexedHistory => {
      const key = tokenKey(checkToken((h as HistoryEntry | null)?.token, `history[${i}].token`));
      const p = old?.get(key);
      // Rows read back unchanged (same brand, same events in the same order) are the same entry.
      if (p && (p.entry === h || (p.entry.brand === h.brand && plainEvents(h.events) && sameEvents(p.entry.events, h.events)))) return p;
      const entry = normHistoryEntry(h, `history[${i}]`);
      const bytes = historyEntryBytes(entry);
      return p && sameBytes(p.bytes, bytes) ? p : { key, entry, bytes };
    });
    let sorted = true;
    for (let i = 1; i < history.length && sorted; i++) sorted = history[i - 1].key < history[i].key;
    if (!sorted) {
      history.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (let i = 1; i < history.length; i++) if (history[i - 1].key === history[i].key) fail('history', 'duplicate token');
    }
    return new DatasetIndex(restricted, knownGood, history, normalizeContent(smallOnly(c)));
  }

  /**
   * The next version from `prev` and what changed, without a step per unchanged card (the
   * publisher's incremental read, server/datasets/builder.ts): `history` is prev's entries with the
   * changed cards' new entries merged in, in token order — an IndexedHistory of prev is kept as it
   * is, a HistoryEntry is validated and encoded; `knownGood` comes packed (strictly ascending, as
   * SQLite concatenates the distinct tokens in order) and is checked, unless it equals prev's.
   * c.knownGood and c.history are ignored. Same result as build() of the same content.
   */
  static buildNext(c: DatasetContent, prev: DatasetIndex, history: readonly (IndexedHistory | HistoryEntry)[], knownGoodPacked: Uint8Array): DatasetIndex {
    if (typeof c !== 'object' || c === null) fail('content', 'object expected');
    const restricted = restrictedGroups(c, prev);
    let knownGood: Uint8Array;
    if (sameBytes(prev.knownGood, knownGoodPacked)) knownGood = prev.knownGood;
    else {
      if (!(knownGoodPacked instanceof Uint8Array) || knownGoodPacked.length % TOKEN_BYTES !== 0) fail('knownGood', `packed ${TOKEN_BYTES}-byte tokens expected`);
      const n = knownGoodPacked.length / TOKEN_BYTES;
      for (let i = 1; i < n; i++) if (compareTokensAt(knownGoodPacked, i - 1, knownGoodPacked, i) >= 0) fail('knownGood', 'tokens not strictly ascending');
      knownGood = knownGoodPacked;
    }
    if (history.length > LIMITS.entriesPerSection) fail('history', 'too many entries');
    const out = history.map((h, i): IndexedHistory => {
      // prev's own entries (validated and encoded when prev was built) are the ones with bytes
      if (isIndexed(h)) return h;
      const entry = normHistoryEntry(h as HistoryEntry, `history[${i}]`);
      return { key: tokenKey(entry.token), entry, bytes: historyEntryBytes(entry) };
    });
    for (let i = 1; i < out.length; i++) if (!(out[i - 1].key < out[i].key)) fail('history', 'entries not strictly ascending by token');
    return new DatasetIndex(restricted, knownGood, out, normalizeContent(smallOnly(c)));
  }

  /** The index of a stored snapshot payload (checked as decodeContent checks it; no object per card). */
  static fromPayload(payload: Uint8Array): DatasetIndex {
    const { restricted, knownGood, rest } = decodeContentPacked(payload);
    const history = rest.history.map((entry) => ({ key: tokenKey(entry.token), entry, bytes: historyEntryBytes(entry) }));
    return new DatasetIndex(restricted, knownGood, history, normalizeContent(smallOnly(rest)));
  }

  private historyMap(): Map<string, IndexedHistory> {
    this.byKey ??= new Map(this.history.map((h) => [h.key, h]));
    return this.byKey;
  }

  get counts(): { restricted: number; knownGood: number; history: number } {
    return {
      restricted: this.restricted.reduce((a, g) => a + g.packed.length / TOKEN_BYTES, 0),
      knownGood: this.knownGood.length / TOKEN_BYTES,
      history: this.history.length,
    };
  }

  /** The canonical encoding (= encodeContent of the content), spliced from the cached pieces. */
  encode(): Uint8Array {
    if (this.encoded) return this.encoded;
    const { head, tail } = splitSmall(encodeContent(this.small));
    const parts: Uint8Array[] = [head, Uint8Array.of(0x01), cborHead(ARRAY, this.restricted.length)];
    for (const g of this.restricted) parts.push(Uint8Array.of(0x82), encodeCbor(g.reason), cborHead(BYTES, g.packed.length), g.packed);
    parts.push(Uint8Array.of(0x02), cborHead(BYTES, this.knownGood.length), this.knownGood);
    parts.push(Uint8Array.of(0x03), cborHead(ARRAY, this.history.length));
    for (const h of this.history) parts.push(h.bytes);
    parts.push(tail);
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let pos = 0;
    for (const p of parts) {
      out.set(p, pos);
      pos += p.length;
    }
    this.encoded = out;
    return out;
  }

  /** The delta that turns `base` into this version (encodeDelta of it = that of diffContent). */
  deltaFrom(base: DatasetIndex): DatasetDelta {
    const d = diffContent(base.small, this.small);
    d.restricted = diffRestricted(base.restricted, this.restricted);
    d.knownGood = diffPacked(base.knownGood, this.knownGood);
    d.history = diffHistory(base.history, this.history);
    return d;
  }
}

const isIndexed = (h: IndexedHistory | HistoryEntry): h is IndexedHistory => (h as IndexedHistory).bytes instanceof Uint8Array && typeof (h as IndexedHistory).key === 'string';

/** The restricted section as packed groups by reason; a group equal to prev's keeps prev's buffer. */
function restrictedGroups(c: DatasetContent, prev: DatasetIndex | null): RestrictedGroup[] {
  const groups = normRestricted(c.restricted, 'restricted');
  const reasons = [...groups.keys()].sort(compareStrings);
  const before = new Map((prev?.restricted ?? []).map((g) => [g.reason, g.packed]));
  const restricted = reasons.map((reason) => {
    const packed = packTokens(groups.get(reason)!, 'restricted');
    const old = before.get(reason);
    return { reason, packed: old && sameBytes(old, packed) ? old : packed };
  });
  checkDisjoint(restricted.map((g) => g.packed), 'restricted');
  return restricted;
}

function sameGroups(a: readonly RestrictedGroup[], b: readonly RestrictedGroup[]): boolean {
  return a.length === b.length && a.every((g, i) => g.reason === b[i].reason && sameBytes(g.packed, b[i].packed));
}

function diffRestricted(a: readonly RestrictedGroup[], b: readonly RestrictedGroup[]): DatasetDelta['restricted'] {
  const remove: Uint8Array[] = [];
  const upsert: RestrictedEntry[] = [];
  if (sameGroups(a, b)) return { remove, upsert };
  const x = flatten([...a]);
  const y = flatten([...b]);
  const n = x.tokens.length / TOKEN_BYTES;
  const m = y.tokens.length / TOKEN_BYTES;
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    const c = i === n ? 1 : j === m ? -1 : compareTokensAt(x.tokens, i, y.tokens, j);
    if (c < 0) remove.push(tokenAt(x.tokens, i++));
    else if (c > 0) {
      upsert.push({ token: tokenAt(y.tokens, j), reason: b[y.group[j]].reason });
      j++;
    } else {
      if (a[x.group[i]].reason !== b[y.group[j]].reason) upsert.push({ token: tokenAt(y.tokens, j), reason: b[y.group[j]].reason });
      i++;
      j++;
    }
  }
  return { remove, upsert };
}

function diffPacked(a: Uint8Array, b: Uint8Array): DatasetDelta['knownGood'] {
  const remove: Uint8Array[] = [];
  const upsert: { token: Uint8Array }[] = [];
  if (sameBytes(a, b)) return { remove, upsert };
  const n = a.length / TOKEN_BYTES;
  const m = b.length / TOKEN_BYTES;
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    const c = i === n ? 1 : j === m ? -1 : compareTokensAt(a, i, b, j);
    if (c < 0) remove.push(tokenAt(a, i++));
    else if (c > 0) upsert.push({ token: tokenAt(b, j++) });
    else {
      i++;
      j++;
    }
  }
  return { remove, upsert };
}

function diffHistory(a: readonly IndexedHistory[], b: readonly IndexedHistory[]): DatasetDelta['history'] {
  const remove: Uint8Array[] = [];
  const upsert: HistoryEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (j === b.length || (i < a.length && x.key < y.key)) {
      remove.push(x.entry.token);
      i++;
    } else if (i === a.length || y.key < x.key) {
      upsert.push(y.entry);
      j++;
    } else {
      if (x !== y && !sameBytes(x.bytes, y.bytes)) upsert.push(y.entry);
      i++;
      j++;
    }
  }
  return { remove, upsert };
}
