// The trust counts of SqliteStorage held in memory. The service is its SQLite file's only writer,
// so every attempt passes through this process: running counts per account, device, IP and card,
// loaded from the table once and updated as attempts are noted and labelled, answer each
// authentication without a statement (the counting statement was the largest read of /v1/auth,
// and its indexes a third of each attempt's write). PostgreSQL, shared by several instances,
// keeps counting in the database (pg-storage.ts).
//
// The answers equal the SQL's (TRUST_SQL in sqlite-storage.ts; test/server/trust-counts-memory.test.ts
// compares them) for any `at` not older than the newest attempt counted (`latest`): windows keep
// the attempts from `latest` minus their span on, and attempts at `at` itself (the current
// second) are left out as the SQL's `at < @at` does. An older `at` (a clock stepped back) returns
// null and the caller asks the database.
import type { TrustCounts, TrustKeys } from './storage.ts';

const HOUR = 3600;
const DAY = 86_400;
const MONTH = 30 * DAY;

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
  private head = 0;
  /** How often each item occurs among the live attempts; only for windows past SMALL. */
  private counts: Map<string, number> | null = null;

  get empty(): boolean {
    return this.head === this.ats.length;
  }

  add(at: number, item: string | null): void {
    // Attempts come in time order; one out of order (an earlier request's, or loading) is put in place.
    const i = insertSorted(this.ats, this.head, at);
    if (i === this.items.length) this.items.push(item);
    else this.items.splice(i, 0, item);
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
      this.head = 0;
    }
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

function addOutcome(o: Outcomes, status: string | null | undefined, type: string | null | undefined): void {
  if (status === 'success') o.successes++;
  else if (status === 'failure') o.failures++;
  if (type === 'fraud') o.fraud++;
  else if (type === 'chargeback') o.chargebacks++;
}

interface AccountCounts {
  firstAt: number;
  /** The newest attempt's second; `latest` holds the outcomes of attempts at it, `before` the older ones'. */
  lastAt: number;
  before: Outcomes;
  latest: Outcomes;
  /** Cards over the last day. */
  day: Window;
}

interface DeviceCounts {
  /** Every account seen on the device, with its first attempt there. */
  accounts: Map<string, number>;
  lastAt: number;
  /** Accounts whose first attempt on the device is at lastAt. */
  newAtLast: number;
  fraud: number; // fraud and chargeback outcomes, any time
  /** Cards over the last day. */
  day: Window;
}

interface IpCounts {
  /** Accounts over the last 30 days (every attempt; null items have no account). */
  month: Window;
  /** Cards over the last hour. */
  hour: Window;
}

export class TrustCountsMemory {
  /** The newest attempt counted (unix s); answers are exact for `at` >= this. */
  latest = Number.NEGATIVE_INFINITY;
  private readonly accounts = new Map<string, AccountCounts>();
  private readonly devices = new Map<string, DeviceCounts>();
  private readonly ips = new Map<string, IpCounts>();
  /** Per card, the times of its attempts over the last day (most cards have one). */
  private readonly cards = new Map<string, number[]>();
  private sinceSweep = 0;

  /** Counts one attempt (its label too, when it has one). */
  add(a: CountedAttempt): void {
    const at = a.at;
    if (at > this.latest) this.latest = at;
    const token = cardKey(a.token);
    // Windows keep what an answer at `latest` or later can still need.
    const inDay = at >= this.latest - DAY;
    if (a.account !== null) {
      let c = this.accounts.get(a.account);
      if (!c) this.accounts.set(a.account, (c = { firstAt: at, lastAt: at, before: noOutcomes(), latest: noOutcomes(), day: new Window() }));
      if (at < c.firstAt) c.firstAt = at;
      if (at > c.lastAt) {
        const b = c.before;
        const l = c.latest;
        b.successes += l.successes;
        b.failures += l.failures;
        b.fraud += l.fraud;
        b.chargebacks += l.chargebacks;
        c.latest = noOutcomes();
        c.lastAt = at;
      }
      addOutcome(at === c.lastAt ? c.latest : c.before, a.status, a.type);
      c.day.evict(this.latest - DAY);
      if (inDay) c.day.add(at, token);
    }
    if (a.device !== null) {
      let d = this.devices.get(a.device);
      if (!d) this.devices.set(a.device, (d = { accounts: new Map(), lastAt: at, newAtLast: 0, fraud: 0, day: new Window() }));
      if (at > d.lastAt) {
        d.lastAt = at;
        d.newAtLast = 0;
      }
      if (a.account !== null) {
        const first = d.accounts.get(a.account);
        if (first === undefined) {
          d.accounts.set(a.account, at);
          if (at === d.lastAt) d.newAtLast++;
        } else if (at < first) {
          d.accounts.set(a.account, at);
          if (first === d.lastAt) d.newAtLast--;
        }
      }
      if (a.type === 'fraud' || a.type === 'chargeback') d.fraud++;
      d.day.evict(this.latest - DAY);
      if (inDay) d.day.add(at, token);
    }
    if (a.ip !== null) {
      let i = this.ips.get(a.ip);
      if (!i) this.ips.set(a.ip, (i = { month: new Window(), hour: new Window() }));
      i.month.evict(this.latest - MONTH);
      i.hour.evict(this.latest - HOUR);
      if (at >= this.latest - MONTH) i.month.add(at, a.account);
      if (at >= this.latest - HOUR) i.hour.add(at, token);
    }
    if (inDay) {
      const w = this.cards.get(token);
      if (!w) this.cards.set(token, [at]);
      else {
        const from = this.latest - DAY;
        let h = 0;
        while (h < w.length && w[h] < from) h++;
        if (h > 0) w.splice(0, h);
        insertSorted(w, 0, at);
      }
    }
    if (++this.sinceSweep >= 65_536) this.sweep();
  }

  /** A label of a counted attempt (identified by its account, device and second). */
  label(a: { account: string | null; device: string | null; at: number }, status: string, type: string | null): void {
    const c = a.account === null ? undefined : this.accounts.get(a.account);
    if (c) addOutcome(a.at === c.lastAt ? c.latest : c.before, status, type);
    const d = a.device === null ? undefined : this.devices.get(a.device);
    if (d && (type === 'fraud' || type === 'chargeback')) d.fraud++;
  }

  /** The counts before `k.at`, or null when `k.at` is older than the newest attempt counted. */
  counts(k: TrustKeys): TrustCounts | null {
    const at = k.at;
    if (at < this.latest) return null;
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
        // Attempts at `at` itself (only possible when at === lastAt) are not before it.
        const current = at === c.lastAt;
        const o = current ? c.before : { successes: c.before.successes + c.latest.successes, failures: c.before.failures + c.latest.failures, fraud: c.before.fraud + c.latest.fraud, chargebacks: c.before.chargebacks + c.latest.chargebacks };
        out.account = { firstAt: current && c.firstAt === at ? null : c.firstAt, successes: o.successes, failures: o.failures, fraud: o.fraud, chargebacks: o.chargebacks };
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
        out.device = { withAccount: mine, accounts: d.accounts.size - (at === d.lastAt ? d.newAtLast : 0), mine, fraud: d.fraud };
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
    if (w) {
      const to = lowerBound(w, 0, w.length, at);
      out.attempts.cardHour = to - lowerBound(w, 0, to, hour);
      out.attempts.cardDay = to - lowerBound(w, 0, to, day);
    }
    return out;
  }

  /** Drops windows of keys not seen for longer than their span (the all-time counts stay). */
  private sweep(): void {
    this.sinceSweep = 0;
    const day = this.latest - DAY;
    for (const c of this.accounts.values()) c.day.evict(day);
    for (const d of this.devices.values()) d.day.evict(day);
    for (const [k, i] of this.ips) {
      i.month.evict(this.latest - MONTH);
      i.hour.evict(this.latest - HOUR);
      if (i.month.empty && i.hour.empty) this.ips.delete(k);
    }
    for (const [k, w] of this.cards) if (w[w.length - 1] < day) this.cards.delete(k);
  }

  /** Keys held (a figure for operations: the memory grows with distinct accounts and devices). */
  size(): { accounts: number; devices: number; ips: number; cards: number } {
    return { accounts: this.accounts.size, devices: this.devices.size, ips: this.ips.size, cards: this.cards.size };
  }
}
