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

// Cards are keyed by their 16 bytes as a one-byte string (half the size of hex).
const cardKey = (t: Uint8Array): string => Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('latin1');

/** First index in [lo, hi) whose value is >= x (ats sorted ascending). */
function lowerBound(ats: number[], lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (ats[m] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** Put `at` into a sorted array (after equal times); returns its index. */
function insertSorted(ats: number[], head: number, at: number): number {
  let i = ats.length;
  if (i > head && ats[i - 1] > at) {
    i = lowerBound(ats, head, i, at + 1);
    ats.splice(i, 0, at);
  } else ats.push(at);
  return i;
}

/** Windows holding more live attempts than this keep a count per item (else distinct items are found by scanning). */
const SMALL = 16;

/** One key's attempts in a trailing window, oldest first, with the item (card or account) of each. */
class Window {
  private ats: number[] = [];
  private items: (string | null)[] = [];
  /** Per attempt, a second value (a device's window: the attempt's account). */
  private aux: (string | null)[] | null;
  /** Per attempt, its outcome bits (an account's window: OUTCOME_*). */
  private marks: number[] | null;
  private head = 0;
  /** How often each item occurs among the live attempts; only for windows past SMALL. */
  private counts: Map<string, number> | null = null;

  constructor(opts: { aux?: boolean; marks?: boolean } = {}) {
    this.aux = opts.aux ? [] : null;
    this.marks = opts.marks ? [] : null;
  }

  get empty(): boolean {
    return this.head === this.ats.length;
  }

  add(at: number, item: string | null, aux: string | null = null, mark = 0): void {
    // Attempts come in time order; one out of order (an earlier request's, or loading) is put in place.
    const i = insertSorted(this.ats, this.head, at);
    if (i === this.items.length) {
      this.items.push(item);
      this.aux?.push(aux);
      this.marks?.push(mark);
    } else {
      this.items.splice(i, 0, item);
      this.aux?.splice(i, 0, aux);
      this.marks?.splice(i, 0, mark);
    }
    if (this.counts) {
      if (item !== null) this.counts.set(item, (this.counts.get(item) ?? 0) + 1);
    } else if (this.ats.length - this.head > SMALL) {
      const counts = new Map<string, number>();
      for (let j = this.head; j < this.items.length; j++) {
        const x = this.items[j];
        if (x !== null) counts.set(x, (counts.get(x) ?? 0) + 1);
      }
      this.counts = counts;
    }
  }

  /** Drops attempts older than `from`. */
  evict(from: number): void {
    let h = this.head;
    const counts = this.counts;
    while (h < this.ats.length && this.ats[h] < from) {
      const item = this.items[h];
      if (counts && item !== null) {
        const n = counts.get(item)! - 1;
        if (n === 0) counts.delete(item);
        else counts.set(item, n);
      }
      this.items[h] = null;
      h++;
    }
    if (h === this.head) return;
    this.head = h;
    if (h > 32 && h * 2 > this.ats.length) {
      this.ats = this.ats.slice(h);
      this.items = this.items.slice(h);
      if (this.aux) this.aux = this.aux.slice(h);
      if (this.marks) this.marks = this.marks.slice(h);
      this.head = 0;
    }
  }

  /** Sets outcome bits on an unmarked attempt at `at`; false when none is held. */
  mark(at: number, bits: number): boolean {
    const marks = this.marks!;
    const end = this.ats.length;
    for (let i = lowerBound(this.ats, this.head, end, at); i < end && this.ats[i] === at; i++) {
      if (marks[i] === 0) {
        marks[i] = bits;
        return true;
      }
    }
    return false;
  }

  /** Outcome bits summed over attempts at or after `from`: what an answer before `from` takes off. */
  marksFrom(from: number, o: Outcomes): void {
    const marks = this.marks!;
    for (let i = lowerBound(this.ats, this.head, this.ats.length, from); i < marks.length; i++) {
      const m = marks[i];
      if (m !== 0) subOutcome(o, m);
    }
  }

  /** The distinct aux values of attempts at or after `from` for which `keep` holds. */
  auxFrom(from: number, keep: (x: string) => boolean): number {
    const aux = this.aux!;
    const lo = lowerBound(this.ats, this.head, this.ats.length, from);
    let n = 0;
    for (let i = lo; i < aux.length; i++) {
      const x = aux[i];
      if (x === null || !keep(x)) continue;
      let seen = false;
      for (let j = lo; j < i && !seen; j++) seen = aux[j] === x;
      if (!seen) n++;
    }
    return n;
  }

  /** Attempts with from <= at < to. */
  count(from: number, to: number): number {
    const end = this.ats.length;
    return lowerBound(this.ats, this.head, end, to) - lowerBound(this.ats, this.head, end, from);
  }

  /** Distinct items among attempts with from <= at < to, and whether `mine` is one of them. */
  distinct(from: number, to: number, mine: string | null): { n: number; mine: boolean } {
    const items = this.items;
    const end = this.ats.length;
    const lo = lowerBound(this.ats, this.head, end, from);
    const hi = lowerBound(this.ats, lo, end, to);
    const counts = this.counts;
    if (!counts) {
      let n = 0;
      let found = false;
      for (let i = lo; i < hi; i++) {
        const x = items[i];
        if (x === null) continue;
        if (x === mine) found = true;
        let seen = false;
        for (let j = lo; j < i && !seen; j++) seen = items[j] === x;
        if (!seen) n++;
      }
      return { n, mine: found };
    }
    // The counts cover the whole window, which holds a little more than asked (attempts that aged
    // out since the last eviction, attempts at `to` itself): those few are taken off.
    let off: Map<string, number> | null = null;
    for (let i = this.head; i < end; i++) {
      if (i === lo) i = hi;
      if (i >= end) break;
      const x = items[i];
      if (x === null) continue;
      off ??= new Map();
      off.set(x, (off.get(x) ?? 0) + 1);
    }
    let n = counts.size;
    if (off) for (const [x, k] of off) if (counts.get(x) === k) n--;
    const m = mine === null ? 0 : (counts.get(mine) ?? 0) - (off?.get(mine) ?? 0);
    return { n, mine: m > 0 };
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
  firstAt: number;
  /** Outcomes of all its attempts. */
  outcomes: Outcomes;
  /** Cards over the last day, with each attempt's outcome. */
  day: Window;
}

interface DeviceCounts {
  /** Every account seen on the device, with its first attempt there. */
  accounts: Map<string, number>;
  fraud: number; // fraud and chargeback outcomes, any time
  /** Cards over the last day, with each attempt's account. */
  day: Window;
}

interface IpCounts {
  /** Accounts over the last 30 days (every attempt; null items have no account). */
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
  private readonly devices = new Map<string, DeviceCounts>();
  private readonly ips = new Map<string, IpCounts>();
  /**
   * Per card, the times of its attempts over the last day: most cards have one, held as the number
   * itself (no array per new card: a card is a new key with nearly every attempt).
   */
  private readonly cards = new Map<string, number | number[]>();
  private sinceSweep = 0;

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
    const token = cardKey(a.token);
    const bits = outcomeBits(a.status, a.type);
    // Windows keep what an answer at `latest` - SLACK or later can still need.
    const dayFrom = this.latest - DAY - SLACK;
    const inDay = at >= dayFrom;
    if (a.account !== null) {
      let c = this.accounts.get(a.account);
      if (!c) this.accounts.set(a.account, (c = { firstAt: at, outcomes: noOutcomes(), day: new Window({ marks: true }) }));
      if (at < c.firstAt) c.firstAt = at;
      addOutcome(c.outcomes, bits);
      c.day.evict(dayFrom);
      if (inDay) c.day.add(at, token, null, bits);
    }
    if (a.device !== null) {
      const d = this.device(a.device);
      if (a.account !== null) {
        const first = d.accounts.get(a.account);
        if (first === undefined || at < first) d.accounts.set(a.account, at);
      }
      if (bits & (FRAUD | CHARGEBACK) && !a.fraudCounted) d.fraud++;
      d.day.evict(dayFrom);
      if (inDay) d.day.add(at, token, a.account);
    }
    if (a.ip !== null) {
      let i = this.ips.get(a.ip);
      if (!i) this.ips.set(a.ip, (i = { month: new Window(), hour: new Window() }));
      i.month.evict(this.latest - MONTH - SLACK);
      i.hour.evict(this.latest - HOUR - SLACK);
      if (at >= this.latest - MONTH - SLACK) i.month.add(at, a.account);
      if (at >= this.latest - HOUR - SLACK) i.hour.add(at, token);
    }
    if (inDay) {
      const w = this.cards.get(token);
      if (w === undefined) this.cards.set(token, at);
      else if (typeof w === 'number') {
        if (w < dayFrom) this.cards.set(token, at);
        else this.cards.set(token, w <= at ? [w, at] : [at, w]);
      } else {
        let h = 0;
        while (h < w.length && w[h] < dayFrom) h++;
        if (h > 0) w.splice(0, h);
        insertSorted(w, 0, at);
      }
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
    // Per IP and account (or none), its newest older attempt in the 30-day window.
    const ipAccounts = new Map<string, Map<string | null, number>>();
    for (const [account, device, ip, firstAt, lastAt, successes, failures, fraud, chargebacks] of older) {
      if (account !== null) {
        const c = this.accounts.get(account);
        if (!c) this.accounts.set(account, { firstAt, outcomes: { successes, failures, fraud, chargebacks }, day: new Window({ marks: true }) });
        else {
          if (firstAt < c.firstAt) c.firstAt = firstAt;
          addCounts(c.outcomes, { successes, failures, fraud, chargebacks });
        }
      }
      if (device !== null) {
        const d = this.device(device);
        if (account !== null) {
          const first = d.accounts.get(account);
          if (first === undefined || firstAt < first) d.accounts.set(account, firstAt);
        }
        d.fraud += fraud + chargebacks;
      }
      if (ip !== null && lastAt >= month) {
        let byAccount = ipAccounts.get(ip);
        if (!byAccount) ipAccounts.set(ip, (byAccount = new Map()));
        if (!(byAccount.get(account)! >= lastAt)) byAccount.set(account, lastAt);
      }
    }
    for (const [ip, byAccount] of ipAccounts) {
      const w = new Window();
      // oldest first: a window appends in time order
      for (const [account, lastAt] of [...byAccount].sort((x, y) => x[1] - y[1])) w.add(lastAt, account);
      this.ips.set(ip, { month: w, hour: new Window() });
    }
  }

  private device(key: string): DeviceCounts {
    let d = this.devices.get(key);
    if (!d) this.devices.set(key, (d = { accounts: new Map(), fraud: 0, day: new Window({ aux: true }) }));
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
    const token = cardKey(k.token);
    const out: TrustCounts = {
      account: null,
      device: null,
      ip: null,
      attempts: { accountHour: 0, accountDay: 0, cardHour: 0, cardDay: 0, ipHour: 0, ipDay: 0 },
      cards: { accountDay: { n: 0, mine: false }, deviceDay: { n: 0, mine: false }, ipHour: { n: 0, mine: false } },
    };
    if (k.account !== null) {
      const c = this.accounts.get(k.account);
      if (!c) out.account = { firstAt: null, ...noOutcomes() };
      else {
        // Attempts at or after `at` are not before it: their outcomes are taken off.
        const o = { ...c.outcomes };
        c.day.marksFrom(at, o);
        out.account = { firstAt: c.firstAt < at ? c.firstAt : null, successes: o.successes, failures: o.failures, fraud: o.fraud, chargebacks: o.chargebacks };
        out.attempts.accountHour = c.day.count(hour, at);
        out.attempts.accountDay = c.day.count(day, at);
        out.cards.accountDay = c.day.distinct(day, at, token);
      }
    }
    if (k.device !== null) {
      const d = this.devices.get(k.device);
      if (!d) out.device = { withAccount: false, accounts: 0, mine: false, fraud: 0 };
      else {
        const first = k.account === null ? undefined : d.accounts.get(k.account);
        const mine = first !== undefined && first < at;
        // Accounts first seen on the device at or after `at` are not before it.
        const later = d.day.auxFrom(at, (x) => d.accounts.get(x)! >= at);
        out.device = { withAccount: mine, accounts: d.accounts.size - later, mine, fraud: d.fraud };
        out.cards.deviceDay = d.day.distinct(day, at, token);
      }
    }
    if (k.ip !== null) {
      const i = this.ips.get(k.ip);
      if (!i) out.ip = { accounts: 0, mine: false };
      else {
        const a = i.month.distinct(at - MONTH, at, k.account);
        out.ip = { accounts: a.n, mine: a.mine };
        out.attempts.ipHour = i.month.count(hour, at);
        out.attempts.ipDay = i.month.count(day, at);
        out.cards.ipHour = i.hour.distinct(hour, at, token);
      }
    }
    const w = this.cards.get(token);
    if (typeof w === 'number') {
      if (w < at) {
        if (w >= hour) out.attempts.cardHour = 1;
        if (w >= day) out.attempts.cardDay = 1;
      }
    } else if (w) {
      const to = lowerBound(w, 0, w.length, at);
      out.attempts.cardHour = to - lowerBound(w, 0, to, hour);
      out.attempts.cardDay = to - lowerBound(w, 0, to, day);
    }
    return out;
  }

  /** Drops windows of keys not seen for longer than their span (the all-time counts stay). */
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
    for (const [k, w] of this.cards) if ((typeof w === 'number' ? w : w[w.length - 1]) < day) this.cards.delete(k);
  }

  /** Keys held (a figure for operations: the memory grows with distinct accounts and devices). */
  size(): { accounts: number; devices: number; ips: number; cards: number } {
    return { accounts: this.accounts.size, devices: this.devices.size, ips: this.ips.size, cards: this.cards.size };
  }
}
