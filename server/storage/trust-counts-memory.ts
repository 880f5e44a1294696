// The trust counts of SqliteStorage held in memory. The service is its SQLite file's only writer,
// so every attempt passes through this process: running counts per account, device, IP and card,
// loaded from the table once and updated as attempts are noted and labelled, answer each
// authentication without a statement (the counting statement was the largest read of /v1/auth,
// and its indexes a third of each attempt's write). PostgreSQL, shared by several instances,
// keeps counting in the database (pg-storage.ts).
//
// The answers equal the SQL's (TRUST_SQL in sqlite-storage.ts; test/server/trust-counts-memory.test.ts
// compares them) for any `at` from SLACK seconds before the newest attempt counted (`latest`) on:
// windows keep their span plus SLACK, each attempt in them carries what an older `at` must take
// off again (its account on a device, its outcome on an account), and attempts at or after `at`
// are left out as the SQL's `at < @at` does — so requests that read the clock a moment before
// another one's attempt was counted are answered here too. An older `at` (a clock stepped back by
// more than SLACK) returns null: the caller loads the counts again with that time as `horizon`,
// and attempts after it wait (deferred) until a time past them is asked about.
import type { TrustCounts, TrustKeys } from './storage.ts';
import { fmix32 } from '../../protocol/dataset/fuse-filter.ts';

const HOUR = 3600;
const DAY = 86_400;
const MONTH = 30 * DAY;
/** How far before the newest attempt counted an answer can still be given from memory (s). */
export const SLACK = 300;

/** Attempts of one account × device × IP (each may be null) older than a day: first and newest time, outcome counts. */
export type OlderGroup = [account: string | null, device: string | null, ip: string | null, firstAt: number, lastAt: number, successes: number, failures: number, fraud: number, chargebacks: number];

/** What one attempt contributes to the counts. */
export interface CountedAttempt {
  token: Uint8Array;
  account: string | null;
  device: string | null;
  ip: string | null;
  at: number;
  /** The label's outcome when the row is labelled already (loading from the table). */
  status?: string | null;
  type?: string | null;
  /** A deferred attempt's fraud already counted on its device (device fraud counts every attempt, any time). */
  fraudCounted?: boolean;
}

/**
 * Item ids in the windows: cards and accounts are numbers here, not strings — the windows then
 * hold no pointers (nothing for the garbage collector to follow per attempt) and items compare as
 * numbers. NONE stands for a null item.
 */
const NONE = -1;

/** First record in [lo, hi) whose time is >= x (records of `s` numbers, the time first, sorted by time). */
function lowerBound(d: number[], s: number, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (d[m * s] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** First index in [lo, hi) whose value is >= x (a sorted array of times). */
function lowerBoundTimes(ats: number[], lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (ats[m] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** Put `at` into a sorted array of times (after equal times). */
function insertSorted(ats: number[], at: number): void {
  const n = ats.length;
  if (n > 0 && ats[n - 1] > at) ats.splice(lowerBoundTimes(ats, 0, n, at + 1), 0, at);
  else ats.push(at);
}

/** Windows holding more live attempts than this keep a count per item (else distinct items are found by scanning). */
const SMALL = 16;

/**
 * One key's attempts in a trailing window, oldest first: one flat array of records of `s` numbers —
 * the time, the item (card or account id) and, with s = 3, a third value (a device's window: the
 * attempt's account id; an account's: its outcome bits). One array per window instead of one per
 * field, and numbers only (small integers: V8 stores them unboxed, nothing to trace).
 */
class Window {
  private d: number[] = [];
  /** The first live record. */
  private head = 0;
  /** How often each item occurs among the live attempts; only for windows past SMALL. */
  private counts: Map<number, number> | null = null;

  constructor(private readonly s: 2 | 3) {}

  get empty(): boolean {
    return this.head * this.s === this.d.length;
  }

  add(at: number, item: number, third = 0): void {
    const d = this.d;
    const s = this.s;
    const n = d.length / s;
    // Attempts come in time order; one out of order (an earlier request's, or loading) is put in place.
    if (n > this.head && d[(n - 1) * s] > at) {
      const i = lowerBound(d, s, this.head, n, at + 1);
      if (s === 2) d.splice(i * 2, 0, at, item);
      else d.splice(i * 3, 0, at, item, third);
    } else if (s === 2) d.push(at, item);
    else d.push(at, item, third);
    if (this.counts) {
      if (item !== NONE) this.counts.set(item, (this.counts.get(item) ?? 0) + 1);
    } else if (n + 1 - this.head > SMALL) {
      const counts = new Map<number, number>();
      for (let j = this.head * s + 1; j < d.length; j += s) {
        const x = d[j];
        if (x !== NONE) counts.set(x, (counts.get(x) ?? 0) + 1);
      }
      this.counts = counts;
    }
  }

  /** Drops attempts older than `from`. */
  evict(from: number): void {
    const d = this.d;
    const s = this.s;
    const n = d.length / s;
    let h = this.head;
    const counts = this.counts;
    while (h < n && d[h * s] < from) {
      const item = d[h * s + 1];
      if (counts && item !== NONE) {
        const k = counts.get(item)! - 1;
        if (k === 0) counts.delete(item);
        else counts.set(item, k);
      }
      h++;
    }
    if (h === this.head) return;
    this.head = h;
    if (h > 32 && h * 2 > n) {
      this.d = d.slice(h * s);
      this.head = 0;
    }
  }

  /** Sets outcome bits on an unmarked attempt at `at`; false when none is held (s = 3: the third value). */
  mark(at: number, bits: number): boolean {
    const d = this.d;
    const n = d.length / 3;
    for (let i = lowerBound(d, 3, this.head, n, at); i < n && d[i * 3] === at; i++) {
      if (d[i * 3 + 2] === 0) {
        d[i * 3 + 2] = bits;
        return true;
      }
    }
    return false;
  }

  /** Outcome bits summed over attempts at or after `from`: what an answer before `from` takes off. */
  marksFrom(from: number, o: Outcomes): void {
    const d = this.d;
    const n = d.length / 3;
    for (let i = lowerBound(d, 3, this.head, n, from); i < n; i++) {
      const m = d[i * 3 + 2];
      if (m !== 0) subOutcome(o, m);
    }
  }

  /** The distinct third values (accounts) of attempts at or after `from` first seen at or after `from` (per `firstSeen`). */
  newAccountsFrom(from: number, firstSeen: Map<number, number>): number {
    const d = this.d;
    const n = d.length / 3;
    const lo = lowerBound(d, 3, this.head, n, from);
    let k = 0;
    for (let i = lo; i < n; i++) {
      const x = d[i * 3 + 2];
      if (x === NONE || !(firstSeen.get(x)! >= from)) continue;
      let seen = false;
      for (let j = lo; j < i && !seen; j++) seen = d[j * 3 + 2] === x;
      if (!seen) k++;
    }
    return k;
  }

  /** Attempts with from <= at < to. */
  count(from: number, to: number): number {
    const n = this.d.length / this.s;
    return lowerBound(this.d, this.s, this.head, n, to) - lowerBound(this.d, this.s, this.head, n, from);
  }

  /** Distinct items among attempts with from <= at < to, and whether `mine` (NONE: none) is one of them. */
  distinct(from: number, to: number, mine: number): { n: number; mine: boolean } {
    const d = this.d;
    const s = this.s;
    const end = d.length / s;
    const lo = lowerBound(d, s, this.head, end, from);
    const hi = lowerBound(d, s, lo, end, to);
    const counts = this.counts;
    if (!counts) {
      let n = 0;
      let found = false;
      for (let i = lo; i < hi; i++) {
        const x = d[i * s + 1];
        if (x === NONE) continue;
        if (x === mine) found = true;
        let seen = false;
        for (let j = lo; j < i && !seen; j++) seen = d[j * s + 1] === x;
        if (!seen) n++;
      }
      return { n, mine: found };
    }
    // The counts cover the whole window, which holds a little more than asked (attempts that aged
    // out since the last eviction, attempts at `to` itself): those few are taken off.
    let off: Map<number, number> | null = null;
    for (let i = this.head; i < end; i++) {
      if (i === lo) i = hi;
      if (i >= end) break;
      const x = d[i * s + 1];
      if (x === NONE) continue;
      off ??= new Map();
      off.set(x, (off.get(x) ?? 0) + 1);
    }
    let n = counts.size;
    if (off) for (const [x, k] of off) if (counts.get(x) === k) n--;
    const m = mine === NONE ? 0 : (counts.get(mine) ?? 0) - (off?.get(mine) ?? 0);
    return { n, mine: m > 0 };
  }
}

/**
 * The cards of the last day: token → id, and per id the times of its attempts. An open-addressing
 * table over typed arrays keyed by the token's 16 bytes, instead of a Map with a string per card
 * (a card is a new key with nearly every attempt: a string, a Map entry and their GC work each).
 * Ids are reused after a sweep drops a card: by then every attempt of it is older than any window
 * an answer can still ask about (see sweep), so within an asked window equal ids are equal cards.
 * Tokens of another length (none are made: tokens and fingerprints are 16 bytes) go to a Map.
 */
class CardTable {
  /** Per id, its token as four 32-bit words. */
  private words = new Int32Array(4 * 1024);
  /** Per id, the time of its only attempt (when it has one); NaN: the id is free. */
  private at = new Float64Array(1024).fill(Number.NaN);
  /** Ids with two or more attempts in the day: their times, sorted. */
  private readonly more = new Map<number, number[]>();
  /** id + 1 per slot, 0: empty. */
  private slots = new Int32Array(2048);
  private free: number[] = [];
  private next = 0;
  size = 0;
  /** Tokens not 16 bytes long (none in practice): their ids. */
  private readonly odd = new Map<string, number>();

  /** Tokens are keyed hashes (uniform bytes): the four words folded, then MurmurHash3's finaliser (the dataset filter's). */
  private static hash(w0: number, w1: number, w2: number, w3: number): number {
    return fmix32(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3, 0xc2b2ae35));
  }

  /** The card's id, or NONE. */
  find(t: Uint8Array): number {
    if (t.length !== 16) return this.odd.get(Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('latin1')) ?? NONE;
    const w0 = t[0] | (t[1] << 8) | (t[2] << 16) | (t[3] << 24);
    const w1 = t[4] | (t[5] << 8) | (t[6] << 16) | (t[7] << 24);
    const w2 = t[8] | (t[9] << 8) | (t[10] << 16) | (t[11] << 24);
    const w3 = t[12] | (t[13] << 8) | (t[14] << 16) | (t[15] << 24);
    const slots = this.slots;
    const mask = slots.length - 1;
    const words = this.words;
    for (let i = CardTable.hash(w0, w1, w2, w3) & mask; ; i = (i + 1) & mask) {
      const v = slots[i];
      if (v === 0) return NONE;
      const k = (v - 1) * 4;
      if (words[k] === w0 && words[k + 1] === w1 && words[k + 2] === w2 && words[k + 3] === w3) return v - 1;
    }
  }

  /** A new id for a card find() did not find, with its first attempt at `at`. */
  insert(t: Uint8Array, at: number): number {
    let id = this.free.pop();
    if (id === undefined) {
      id = this.next++;
      if (id >= this.at.length) {
        const a = new Float64Array(this.at.length * 2).fill(Number.NaN);
        a.set(this.at);
        this.at = a;
        const w = new Int32Array(this.words.length * 2);
        w.set(this.words);
        this.words = w;
      }
    }
    this.at[id] = at;
    this.size++;
    if (t.length !== 16) {
      this.odd.set(Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('latin1'), id);
      this.words.fill(0, id * 4, id * 4 + 4);
      return id;
    }
    const k = id * 4;
    this.words[k] = t[0] | (t[1] << 8) | (t[2] << 16) | (t[3] << 24);
    this.words[k + 1] = t[4] | (t[5] << 8) | (t[6] << 16) | (t[7] << 24);
    this.words[k + 2] = t[8] | (t[9] << 8) | (t[10] << 16) | (t[11] << 24);
    this.words[k + 3] = t[12] | (t[13] << 8) | (t[14] << 16) | (t[15] << 24);
    if ((this.size - this.odd.size) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(id);
    return id;
  }

  private place(id: number): void {
    const slots = this.slots;
    const mask = slots.length - 1;
    const k = id * 4;
    const w = this.words;
    let i = CardTable.hash(w[k], w[k + 1], w[k + 2], w[k + 3]) & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = id + 1;
  }

  /** The slots again, for the live 16-byte cards (after growing, or after a sweep freed ids). */
  private rehash(capacity: number): void {
    this.slots = new Int32Array(capacity);
    const odd = new Set(this.odd.values());
    for (let id = 0; id < this.next; id++) if (!Number.isNaN(this.at[id]) && !odd.has(id)) this.place(id);
  }

  /** Records an attempt of card `id` at `at` (dayFrom: times before it are out of the day). */
  addTime(id: number, at: number, dayFrom: number): void {
    const w = this.more.get(id);
    if (w === undefined) {
      const first = this.at[id];
      if (first < dayFrom) this.at[id] = at;
      else this.more.set(id, first <= at ? [first, at] : [at, first]);
    } else {
      let h = 0;
      while (h < w.length && w[h] < dayFrom) h++;
      if (h > 0) w.splice(0, h);
      insertSorted(w, at);
    }
  }

  /** Attempts of card `id` with hour <= time < at, and with day <= time < at. */
  counts(id: number, hour: number, day: number, at: number): { hour: number; day: number } {
    const w = this.more.get(id);
    if (w === undefined) {
      const t = this.at[id];
      return t < at ? { hour: t >= hour ? 1 : 0, day: t >= day ? 1 : 0 } : { hour: 0, day: 0 };
    }
    const to = lowerBoundTimes(w, 0, w.length, at);
    return { hour: to - lowerBoundTimes(w, 0, to, hour), day: to - lowerBoundTimes(w, 0, to, day) };
  }

  /** Frees the cards whose last attempt is before `day`. */
  sweep(day: number): void {
    let freed = false;
    for (let id = 0; id < this.next; id++) {
      const first = this.at[id];
      if (Number.isNaN(first)) continue;
      const w = this.more.get(id);
      if ((w === undefined ? first : w[w.length - 1]) >= day) continue;
      this.at[id] = Number.NaN;
      if (w !== undefined) this.more.delete(id);
      this.free.push(id);
      this.size--;
      freed = true;
    }
    if (!freed) return;
    for (const [k, id] of this.odd) if (Number.isNaN(this.at[id])) this.odd.delete(k);
    this.rehash(this.slots.length);
  }
}

interface Outcomes {
  successes: number;
  failures: number;
  fraud: number;
  chargebacks: number;
}

const noOutcomes = (): Outcomes => ({ successes: 0, failures: 0, fraud: 0, chargebacks: 0 });

const SUCCESS = 1;
const FAILURE = 2;
const FRAUD = 4;
const CHARGEBACK = 8;

/** An outcome as bits (0: none or not counted). */
const outcomeBits = (status: string | null | undefined, type: string | null | undefined): number =>
  (status === 'success' ? SUCCESS : status === 'failure' ? FAILURE : 0) | (type === 'fraud' ? FRAUD : type === 'chargeback' ? CHARGEBACK : 0);

function addOutcome(o: Outcomes, bits: number): void {
  if (bits & SUCCESS) o.successes++;
  if (bits & FAILURE) o.failures++;
  if (bits & FRAUD) o.fraud++;
  if (bits & CHARGEBACK) o.chargebacks++;
}

function addCounts(o: Outcomes, x: Outcomes): void {
  o.successes += x.successes;
  o.failures += x.failures;
  o.fraud += x.fraud;
  o.chargebacks += x.chargebacks;
}

function subOutcome(o: Outcomes, bits: number): void {
  if (bits & SUCCESS) o.successes--;
  if (bits & FAILURE) o.failures--;
  if (bits & FRAUD) o.fraud--;
  if (bits & CHARGEBACK) o.chargebacks--;
}

interface AccountCounts {
  /** The account's id in the windows (accounts are kept for all time: never reused). */
  id: number;
  firstAt: number;
  /** Outcomes of all its attempts. */
  outcomes: Outcomes;
  /** Cards over the last day, with each attempt's outcome bits. */
  day: Window;
}

interface DeviceCounts {
  /** Every account (id) seen on the device, with its first attempt there. */
  accounts: Map<number, number>;
  fraud: number; // fraud and chargeback outcomes, any time
  /** Cards over the last day, with each attempt's account (id). */
  day: Window;
}

interface IpCounts {
  /** Accounts (ids) over the last 30 days (every attempt; NONE items have no account). */
  month: Window;
  /** Cards over the last hour. */
  hour: Window;
}

export class TrustCountsMemory {
  /** The newest attempt counted (unix s); answers are exact for `at` >= this - SLACK. */
  latest = Number.NEGATIVE_INFINITY;
  /** Attempts after `horizon`, oldest first from `deferredAt`: counted once a time past them is asked about. */
  private deferred: CountedAttempt[] = [];
  private deferredAt = 0;

  /** `horizon`: attempts after it are deferred (loading after the clock stepped back). */
  constructor(private horizon = Number.POSITIVE_INFINITY) {}

  /** After loading: the deferred attempts in time order. */
  loaded(): void {
    this.deferred.sort((a, b) => a.at - b.at);
    if (this.deferred.length === 0) this.horizon = Number.POSITIVE_INFINITY;
  }

  /** Counts deferred attempts up to `at`; the horizon moves to `at`. */
  private advance(at: number): void {
    if (at <= this.horizon) return;
    const d = this.deferred;
    let i = this.deferredAt;
    this.horizon = at;
    while (i < d.length && d[i].at <= at) this.add(d[i++]);
    this.deferredAt = i;
    if (i === d.length) {
      this.deferred = [];
      this.deferredAt = 0;
      this.horizon = Number.POSITIVE_INFINITY;
    }
  }
  private readonly accounts = new Map<string, AccountCounts>();
  private nextAccountId = 0;
  private readonly devices = new Map<string, DeviceCounts>();
  private readonly ips = new Map<string, IpCounts>();
  /** Per card, the times of its attempts over the last day. */
  private readonly cards = new CardTable();
  private sinceSweep = 0;

  private account(key: string, firstAt: number): AccountCounts {
    let c = this.accounts.get(key);
    if (!c) this.accounts.set(key, (c = { id: this.nextAccountId++, firstAt, outcomes: noOutcomes(), day: new Window(3) }));
    return c;
  }

  /** Counts one attempt (its label too, when it has one). */
  add(a: CountedAttempt): void {
    const at = a.at;
    if (at > this.horizon) {
      const copy: CountedAttempt = { token: a.token, account: a.account, device: a.device, ip: a.ip, at, status: a.status ?? null, type: a.type ?? null, fraudCounted: false };
      if (a.device !== null && outcomeBits(a.status, a.type) & (FRAUD | CHARGEBACK)) {
        this.device(a.device).fraud++;
        copy.fraudCounted = true;
      }
      const d = this.deferred;
      let i = d.length;
      while (i > this.deferredAt && d[i - 1].at > at) i--;
      d.splice(i, 0, copy);
      return;
    }
    if (at > this.latest) this.latest = at;
    const bits = outcomeBits(a.status, a.type);
    // Windows keep what an answer at `latest` - SLACK or later can still need.
    const dayFrom = this.latest - DAY - SLACK;
    const inDay = at >= dayFrom;
    // The card's id (a new one when it has no attempt in the day yet): only attempts in the day
    // enter windows that hold cards.
    let card = NONE;
    if (inDay) {
      card = this.cards.find(a.token);
      if (card === NONE) card = this.cards.insert(a.token, at);
      else this.cards.addTime(card, at, dayFrom);
    }
    let accountId = NONE;
    if (a.account !== null) {
      const c = this.account(a.account, at);
      accountId = c.id;
      if (at < c.firstAt) c.firstAt = at;
      addOutcome(c.outcomes, bits);
      c.day.evict(dayFrom);
      if (inDay) c.day.add(at, card, bits);
    }
    if (a.device !== null) {
      const d = this.device(a.device);
      if (accountId !== NONE) {
        const first = d.accounts.get(accountId);
        if (first === undefined || at < first) d.accounts.set(accountId, at);
      }
      if (bits & (FRAUD | CHARGEBACK) && !a.fraudCounted) d.fraud++;
      d.day.evict(dayFrom);
      if (inDay) d.day.add(at, card, accountId);
    }
    if (a.ip !== null) {
      let i = this.ips.get(a.ip);
      if (!i) this.ips.set(a.ip, (i = { month: new Window(2), hour: new Window(2) }));
      i.month.evict(this.latest - MONTH - SLACK);
      i.hour.evict(this.latest - HOUR - SLACK);
      if (at >= this.latest - MONTH - SLACK) i.month.add(at, accountId);
      if (at >= this.latest - HOUR - SLACK) i.hour.add(at, card);
    }
    if (++this.sinceSweep >= 65_536) this.sweep();
  }

  /**
   * Where a load with everything up to `latest` (the newest attempt stored) splits: attempts at or
   * after `day` are added one by one (every window can still need them), older ones only as the
   * aggregates loadOlder takes — and of those, the IPs' 30-day windows need each (IP, account)'s
   * newest attempt at or after `month`.
   */
  static cutoffs(latest: number): { day: number; month: number } {
    return { day: latest - DAY - SLACK, month: latest - MONTH - SLACK };
  }

  /**
   * The attempts before `cutoffs(latest).day`, as aggregates instead of one add() each (a start
   * then reads the table's older part as one grouped row per account × device × IP, not a row per
   * attempt; the newer attempts follow through add()). Answers equal those of adding every
   * attempt: older attempts count only in the all-time figures (an account's first attempt and
   * outcomes, a device's accounts and fraud) and in the IPs' 30-day account sets, where an (IP,
   * account) held at its newest older attempt is in a window exactly when any of its older attempts
   * is — every hour and day count starts at `day` or later. Call on a fresh instance, before add().
   */
  loadOlder(latest: number, older: Iterable<OlderGroup>): void {
    if (latest > this.latest) this.latest = latest;
    const month = TrustCountsMemory.cutoffs(latest).month;
    // Per IP and account id (or NONE), its newest older attempt in the 30-day window.
    const ipAccounts = new Map<string, Map<number, number>>();
    for (const [account, device, ip, firstAt, lastAt, successes, failures, fraud, chargebacks] of older) {
      let accountId = NONE;
      if (account !== null) {
        const known = this.accounts.has(account);
        const c = this.account(account, firstAt);
        accountId = c.id;
        if (known && firstAt < c.firstAt) c.firstAt = firstAt;
        addCounts(c.outcomes, { successes, failures, fraud, chargebacks });
      }
      if (device !== null) {
        const d = this.device(device);
        if (accountId !== NONE) {
          const first = d.accounts.get(accountId);
          if (first === undefined || firstAt < first) d.accounts.set(accountId, firstAt);
        }
        d.fraud += fraud + chargebacks;
      }
      if (ip !== null && lastAt >= month) {
        let byAccount = ipAccounts.get(ip);
        if (!byAccount) ipAccounts.set(ip, (byAccount = new Map()));
        if (!(byAccount.get(accountId)! >= lastAt)) byAccount.set(accountId, lastAt);
      }
    }
    for (const [ip, byAccount] of ipAccounts) {
      const w = new Window(2);
      // oldest first: a window appends in time order
      for (const [account, lastAt] of [...byAccount].sort((x, y) => x[1] - y[1])) w.add(lastAt, account);
      this.ips.set(ip, { month: w, hour: new Window(2) });
    }
  }

  private device(key: string): DeviceCounts {
    let d = this.devices.get(key);
    if (!d) this.devices.set(key, (d = { accounts: new Map(), fraud: 0, day: new Window(3) }));
    return d;
  }

  /** A label of a counted attempt (identified by its account, device and second). */
  label(a: { account: string | null; device: string | null; at: number }, status: string, type: string | null): void {
    if (a.at > this.horizon) {
      // A deferred attempt: it carries the label until it is counted.
      const d = this.deferred;
      for (let i = this.deferredAt; i < d.length; i++) {
        const x = d[i];
        if (x.at === a.at && x.account === a.account && x.device === a.device && x.status == null && x.type == null) {
          x.status = status;
          x.type = type;
          if (x.device !== null && outcomeBits(status, type) & (FRAUD | CHARGEBACK)) {
            this.device(x.device).fraud++;
            x.fraudCounted = true;
          }
          return;
        }
      }
      return;
    }
    const bits = outcomeBits(status, type);
    const c = a.account === null ? undefined : this.accounts.get(a.account);
    if (c) {
      addOutcome(c.outcomes, bits);
      // Attempts at one second are alike to the counts: any unlabelled one of them takes the mark.
      c.day.mark(a.at, bits);
    }
    const d = a.device === null ? undefined : this.devices.get(a.device);
    if (d && bits & (FRAUD | CHARGEBACK)) d.fraud++;
  }

  /** The counts before `k.at`, or null when `k.at` is more than SLACK before the newest attempt counted. */
  counts(k: TrustKeys): TrustCounts | null {
    const at = k.at;
    this.advance(at);
    if (at < this.latest - SLACK) return null;
    const hour = at - HOUR;
    const day = at - DAY;
    // A card or account with no id has no attempt in any window.
    const card = this.cards.find(k.token);
    const c = k.account === null ? undefined : this.accounts.get(k.account);
    const accountId = c === undefined ? NONE : c.id;
    const out: TrustCounts = {
      account: null,
      device: null,
      ip: null,
      attempts: { accountHour: 0, accountDay: 0, cardHour: 0, cardDay: 0, ipHour: 0, ipDay: 0 },
      cards: { accountDay: { n: 0, mine: false }, deviceDay: { n: 0, mine: false }, ipHour: { n: 0, mine: false } },
    };
    if (k.account !== null) {
      if (!c) out.account = { firstAt: null, successes: 0, failures: 0, fraud: 0, chargebacks: 0 };
      else {
        // Attempts at or after `at` are not before it: their outcomes are taken off.
        const o = { ...c.outcomes };
        c.day.marksFrom(at, o);
        out.account = { firstAt: c.firstAt < at ? c.firstAt : null, successes: o.successes, failures: o.failures, fraud: o.fraud, chargebacks: o.chargebacks };
        out.attempts.accountHour = c.day.count(hour, at);
        out.attempts.accountDay = c.day.count(day, at);
        out.cards.accountDay = c.day.distinct(day, at, card);
      }
    }
    if (k.device !== null) {
      const d = this.devices.get(k.device);
      if (!d) out.device = { withAccount: false, accounts: 0, mine: false, fraud: 0 };
      else {
        const first = accountId === NONE ? undefined : d.accounts.get(accountId);
        const mine = first !== undefined && first < at;
        // Accounts first seen on the device at or after `at` are not before it.
        const later = d.day.newAccountsFrom(at, d.accounts);
        out.device = { withAccount: mine, accounts: d.accounts.size - later, mine, fraud: d.fraud };
        out.cards.deviceDay = d.day.distinct(day, at, card);
      }
    }
    if (k.ip !== null) {
      const i = this.ips.get(k.ip);
      if (!i) out.ip = { accounts: 0, mine: false };
      else {
        const a = i.month.distinct(at - MONTH, at, accountId);
        out.ip = { accounts: a.n, mine: a.mine };
        out.attempts.ipHour = i.month.count(hour, at);
        out.attempts.ipDay = i.month.count(day, at);
        out.cards.ipHour = i.hour.distinct(hour, at, card);
      }
    }
    if (card !== NONE) {
      const n = this.cards.counts(card, hour, day, at);
      out.attempts.cardHour = n.hour;
      out.attempts.cardDay = n.day;
    }
    return out;
  }

  /**
   * Drops windows of keys not seen for longer than their span (the all-time counts stay), and the
   * cards whose last attempt is older than a day + SLACK before the newest attempt: every later
   * answer asks about times after that (at >= latest - SLACK), so their ids can be reused.
   */
  private sweep(): void {
    this.sinceSweep = 0;
    const day = this.latest - DAY - SLACK;
    for (const c of this.accounts.values()) c.day.evict(day);
    for (const d of this.devices.values()) d.day.evict(day);
    for (const [k, i] of this.ips) {
      i.month.evict(this.latest - MONTH - SLACK);
      i.hour.evict(this.latest - HOUR - SLACK);
      if (i.month.empty && i.hour.empty) this.ips.delete(k);
    }
    this.cards.sweep(day);
  }

  /** Keys held (a figure for operations: the memory grows with distinct accounts and devices). */
  size(): { accounts: number; devices: number; ips: number; cards: number } {
    return { accounts: this.accounts.size, devices: this.devices.size, ips: this.ips.size, cards: this.cards.size };
  }
}
