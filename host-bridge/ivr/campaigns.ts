// Call-back campaigns: a durable queue of outbound capture calls (SQLite in the bridge's data
// directory, its own file), each with its order, the number normalised to E.164 by
// libphonenumber-js (national numbers read in the merchant's region, so local and long-distance
// numbers both work), and a time window. A worker places up to `lines` calls at once through the
// telephony platform's Dialler; busy, no answer and a hang-up before the capture completed are
// redialled with exponential backoff up to `maxAttempts`; a call whose capture never completes
// (attempts exhausted, window over, too many wrong entries) gets one SMS through the adapter.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { Logger } from 'pino';
import type { SmsAdapter } from '../../protocol/channels/sms-adapter.ts';
import { ApiError } from '../api/error-map.ts';
import type { CallEnd, CaptureFlow, CaptureOrder, SessionEnd } from './capture-flow.ts';
import { ivrSms } from './prompts.ts';

/** What placing a call gave: answered (the platform now fetches the start URL) or why not. */
export type DialResult = 'answered' | 'busy' | 'no-answer' | 'failed';

/** The telephony platform's outbound-call API, as the campaign worker needs it. */
export interface Dialler {
  dial(call: { callId: string; to: string; url: string }): Promise<DialResult>;
}

export type CallState = 'queued' | 'dialing' | 'in-call' | 'completed' | 'failed' | 'expired' | 'cancelled';

export interface CallbackInput {
  order: CaptureOrder;
  phone: string;
  region?: string;
  lang?: string;
  identity?: Record<string, string>;
  requireCvc?: boolean;
  accountId?: string;
  /** Unix seconds: not before / not after. */
  window?: { notBefore?: number; notAfter?: number };
}

export interface CallRecord {
  id: string;
  orderId: string;
  phone: string;
  lang: string;
  state: CallState;
  attempts: number;
  nextAt: number;
  notBefore: number;
  notAfter: number;
  lastResult: DialResult | CallEnd | null;
  decision: string | null;
  sms: 'sent' | 'failed' | null;
  createdAt: number;
}

export interface CampaignOptions {
  dataDir: string;
  flow: CaptureFlow;
  dialler: Dialler;
  sms: SmsAdapter | null;
  logger: Logger;
  /** Base URL the telephony platform reaches this bridge at. */
  publicUrl: () => string;
  /** Concurrent outbound calls (telephone lines). */
  lines?: number;
  maxAttempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Window length when a call gives none. */
  defaultWindowMs?: number;
  defaultRegion?: string | null;
  defaultLang?: string;
  pollMs?: number;
  now?: () => number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ivr_calls (
  id TEXT PRIMARY KEY,
  order_json TEXT NOT NULL,
  order_id TEXT NOT NULL,
  phone TEXT NOT NULL,
  lang TEXT NOT NULL,
  options_json TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  last_result TEXT,
  decision TEXT,
  sms TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ivr_calls_due ON ivr_calls (state, next_at);
`;

type Row = Record<string, unknown>;
const toRecord = (r: Row): CallRecord => ({
  id: r.id as string,
  orderId: r.order_id as string,
  phone: r.phone as string,
  lang: r.lang as string,
  state: r.state as CallState,
  attempts: r.attempts as number,
  nextAt: r.next_at as number,
  notBefore: r.not_before as number,
  notAfter: r.not_after as number,
  lastResult: (r.last_result as CallRecord['lastResult']) ?? null,
  decision: (r.decision as string | null) ?? null,
  sms: (r.sms as CallRecord['sms']) ?? null,
  createdAt: r.created_at as number,
});

export class CallbackCampaigns extends EventEmitter<{ attempt: [CallRecord, DialResult]; finished: [CallRecord] }> {
  readonly db: Database.Database;
  private readonly o: Required<Omit<CampaignOptions, 'dataDir' | 'flow' | 'dialler' | 'sms' | 'logger' | 'publicUrl' | 'defaultRegion'>> & { defaultRegion: string | null };
  private readonly live = new Map<string, { sessionId: string }>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private pumping = false;
  private again = false;
  private readonly pending = new Set<Promise<void>>();
  private readonly onEnded = (e: SessionEnd) => void this.callEnded(e);

  constructor(private readonly deps: CampaignOptions) {
    super();
    this.o = {
      lines: 4,
      maxAttempts: 3,
      baseBackoffMs: 5 * 60_000,
      maxBackoffMs: 60 * 60_000,
      defaultWindowMs: 24 * 3600_000,
      defaultLang: 'en',
      pollMs: 5000,
      now: Date.now,
      ...Object.fromEntries(Object.entries(deps).filter(([, v]) => v !== undefined)),
      defaultRegion: deps.defaultRegion ?? null,
    } as typeof this.o;
    this.db = new Database(join(deps.dataDir, 'ivr-campaigns.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Calls that were on the line when the bridge stopped: the call is gone, count it as a hang-up.
    const now = this.o.now();
    for (const r of this.db.prepare(`SELECT * FROM ivr_calls WHERE state IN ('dialing', 'in-call')`).all() as Row[]) this.retryOrGiveUp(toRecord(r), 'hangup', now);
  }

  add(input: CallbackInput): CallRecord {
    const region = (input.region ?? this.o.defaultRegion ?? undefined) as CountryCode | undefined;
    const p = parsePhoneNumberFromString(input.phone, region);
    if (!p || !p.isValid()) throw new ApiError('INVALID_FIELD', 'phone is not a valid number (E.164, or national in region)', 'phone');
    const now = this.o.now();
    const notBefore = (input.window?.notBefore ?? 0) * 1000 || now;
    const notAfter = input.window?.notAfter !== undefined ? input.window.notAfter * 1000 : Math.max(now, notBefore) + this.o.defaultWindowMs;
    if (notAfter <= Math.max(now, notBefore)) throw new ApiError('INVALID_FIELD', 'window.notAfter must be after now and after notBefore', 'window');
    const id = `call_${randomBytes(12).toString('hex')}`;
    const lang = input.lang ?? this.o.defaultLang;
    this.db
      .prepare(`INSERT INTO ivr_calls (id, order_json, order_id, phone, lang, options_json, state, attempts, next_at, not_before, not_after, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?)`)
      .run(id, JSON.stringify(input.order), input.order.id, p.number, lang, JSON.stringify({ identity: input.identity ?? {}, requireCvc: input.requireCvc ?? true, accountId: input.accountId ?? null }), Math.max(now, notBefore), notBefore, notAfter, now, now);
    this.deps.logger.info({ callId: id, orderId: input.order.id, country: p.country ?? null }, 'call-back queued');
    this.kick();
    return this.get(id)!;
  }

  get(id: string): CallRecord | null {
    const r = this.db.prepare('SELECT * FROM ivr_calls WHERE id = ?').get(id) as Row | undefined;
    return r ? toRecord(r) : null;
  }

  list(state?: CallState, limit = 100): CallRecord[] {
    const rows = (state ? this.db.prepare('SELECT * FROM ivr_calls WHERE state = ? ORDER BY created_at, id LIMIT ?').all(state, limit) : this.db.prepare('SELECT * FROM ivr_calls ORDER BY created_at, id LIMIT ?').all(limit)) as Row[];
    return rows.map(toRecord);
  }

  cancel(id: string): boolean {
    return this.db.prepare(`UPDATE ivr_calls SET state = 'cancelled', updated_at = ? WHERE id = ? AND state = 'queued'`).run(this.o.now(), id).changes > 0;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.deps.flow.on('ended', this.onEnded);
    this.kick();
  }

  /** No more dialling (shutdown): calls still ending are recorded for a redial after the restart. */
  pause(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.deps.flow.off('ended', this.onEnded);
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.pending]);
    this.db.close();
  }

  kick(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        this.pump();
      } while (this.again && this.running);
    } finally {
      this.pumping = false;
    }
    this.schedule();
  }

  private schedule(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    const next = (this.db.prepare(`SELECT min(next_at) AS t FROM ivr_calls WHERE state = 'queued'`).get() as { t: number | null }).t;
    const wait = next === null ? this.o.pollMs : Math.max(0, Math.min(this.o.pollMs, next - this.o.now()));
    this.timer = setTimeout(() => this.kick(), wait);
    this.timer.unref();
  }

  private pump(): void {
    const free = this.o.lines - this.live.size;
    if (free <= 0) return;
    const now = this.o.now();
    const due = this.db.prepare(`SELECT * FROM ivr_calls WHERE state = 'queued' AND next_at <= ? ORDER BY next_at LIMIT ?`).all(now, free) as Row[];
    for (const row of due) {
      const call = toRecord(row);
      if (now > call.notAfter) {
        this.finish(call, 'expired', call.lastResult, null);
        continue;
      }
      const claimed = this.db.prepare(`UPDATE ivr_calls SET state = 'dialing', attempts = attempts + 1, updated_at = ? WHERE id = ? AND state = 'queued'`).run(now, call.id).changes > 0;
      if (!claimed) continue;
      const opts = JSON.parse(row.options_json as string) as { identity: Record<string, string>; requireCvc: boolean; accountId: string | null };
      const { sessionId, startPath } = this.deps.flow.create({
        order: JSON.parse(row.order_json as string) as CaptureOrder,
        lang: call.lang,
        identity: opts.identity,
        requireCvc: opts.requireCvc,
        ...(opts.accountId ? { accountId: opts.accountId } : {}),
        callId: call.id,
      });
      this.live.set(call.id, { sessionId });
      // Not awaited at shutdown: a platform that never answers must not hold the bridge open.
      void this.dial({ ...call, attempts: call.attempts + 1 }, sessionId, `${this.deps.publicUrl()}${startPath}`);
    }
  }

  private async dial(call: CallRecord, sessionId: string, url: string): Promise<void> {
    let result: DialResult;
    try {
      result = await this.deps.dialler.dial({ callId: call.id, to: call.phone, url });
    } catch (e) {
      this.deps.logger.warn({ callId: call.id, err: (e as Error).message }, 'dialler failed');
      result = 'failed';
    }
    if (!this.running || !this.db.open) return; // stopped meanwhile: the row is redialled after a restart
    this.emit('attempt', call, result);
    if (result === 'answered') {
      // The session may already have ended (a very short call): then callEnded ran first.
      if (this.live.has(call.id)) this.db.prepare(`UPDATE ivr_calls SET state = 'in-call', last_result = 'answered', updated_at = ? WHERE id = ? AND state = 'dialing'`).run(this.o.now(), call.id);
      return;
    }
    this.live.delete(call.id);
    this.deps.flow.discard(sessionId);
    this.retryOrGiveUp(this.get(call.id)!, result, this.o.now());
    this.kick();
  }

  private async callEnded(e: SessionEnd): Promise<void> {
    if (!e.callId || !this.live.delete(e.callId)) return;
    const call = this.get(e.callId);
    if (!call) return;
    if (e.end === 'completed') this.finish(call, 'completed', 'completed', e.result?.decision ?? null);
    else if (e.end === 'failed') this.finish(call, 'failed', 'failed', null);
    else this.retryOrGiveUp(call, e.end, this.o.now());
    this.kick();
  }

  /** Busy, no answer, hang-up mid-capture: again after a backoff, unless attempts or window are spent. */
  private retryOrGiveUp(call: CallRecord, result: DialResult | CallEnd, now: number): void {
    const delay = Math.min(this.o.maxBackoffMs, this.o.baseBackoffMs * 2 ** Math.max(0, call.attempts - 1));
    if (call.attempts >= this.o.maxAttempts) return this.finish(call, 'failed', result, null);
    if (now + delay > call.notAfter) return this.finish(call, 'expired', result, null);
    this.db.prepare(`UPDATE ivr_calls SET state = 'queued', next_at = ?, last_result = ?, updated_at = ? WHERE id = ?`).run(now + delay, result, now, call.id);
    this.deps.logger.info({ callId: call.id, attempts: call.attempts, result, retryInMs: delay }, 'call-back will be redialled');
  }

  private finish(call: CallRecord, state: 'completed' | 'failed' | 'expired', result: DialResult | CallEnd | null, decision: string | null): void {
    this.db.prepare(`UPDATE ivr_calls SET state = ?, last_result = ?, decision = ?, updated_at = ? WHERE id = ?`).run(state, result, decision, this.o.now(), call.id);
    this.deps.logger.info({ callId: call.id, orderId: call.orderId, state, attempts: call.attempts, result }, 'call-back finished');
    if (state === 'completed') {
      this.emit('finished', this.get(call.id)!);
      return;
    }
    // The capture never completed: tell the cardholder once, by SMS.
    const p = this.sendSms(call).finally(() => {
      this.pending.delete(p);
      this.emit('finished', this.get(call.id)!);
    });
    this.pending.add(p);
  }

  private async sendSms(call: CallRecord): Promise<void> {
    let outcome: 'sent' | 'failed' = 'failed';
    if (this.deps.sms) {
      try {
        await this.deps.sms.send({ id: `sms_${call.id}`, to: call.phone, text: ivrSms(call.lang, call.orderId) });
        outcome = 'sent';
      } catch (e) {
        this.deps.logger.warn({ callId: call.id, err: (e as Error).message }, 'capture SMS not sent');
      }
    }
    if (this.db.open) this.db.prepare('UPDATE ivr_calls SET sms = ? WHERE id = ?').run(outcome, call.id);
  }
}
