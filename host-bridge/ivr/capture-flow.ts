// The phone capture of one payment: a session per call holding the order and, for the length of
// the call only, the digits the caller keyed. Each entry is checked by the bridge's own format
// checks as soon as it is entered (card number: length and Luhn; expiry; security code), and the
// complete capture goes through the same VerifyPipeline as POST /v1/verify — so the card number
// reaches the verifier only over the encrypted device link, and the answer (stage, reason, prompt)
// is the pipeline's, read back in the caller's language. Digits are never logged or stored: they
// live in the session object, are dropped once verified, and the session itself is dropped when
// the call ends or its time runs out.
import { EventEmitter } from 'node:events';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { checkCard, FormatCheckError } from '../pipeline/format-checks.ts';
import type { VerifyPipeline, VerifyResult } from '../pipeline/verify-pipeline.ts';
import { formatMinorUnits } from '../../contracts/currency.ts';
import { identityLabel, ivrPhrases, type IvrPhrases } from './prompts.ts';
import { fieldDocument, menuDocument, sayDocument, type DocOptions } from './vxml.ts';
import { codeOf } from '../../errors/precheck-error.ts';

export interface CaptureOrder {
  id: string;
  amount: { value: number; currency: string };
  country?: string;
}

export interface SessionInput {
  order: CaptureOrder;
  lang: string;
  /** Identity data the merchant requires: name → the expected digits (checked, never stored). */
  identity?: Record<string, string>;
  requireCvc?: boolean;
  accountId?: string;
  /** Set for call-back campaigns. */
  callId?: string;
}

/** How a call ended, as the redial policy sees it. */
export type CallEnd = 'completed' | 'hangup' | 'timeout' | 'failed' | 'abandoned';

export interface SessionEnd {
  sessionId: string;
  callId: string | null;
  orderId: string;
  end: CallEnd;
  /** The pipeline's answer when the capture completed. */
  result: Pick<VerifyResult, 'decision' | 'reason' | 'stage' | 'prompt'> | null;
}

type Step = { kind: 'card' } | { kind: 'expiry' } | { kind: 'cvc' } | { kind: 'identity'; index: number };

interface Session {
  id: string;
  input: SessionInput;
  identity: [string, string][];
  phrases: IvrPhrases;
  expiresAt: number;
  timer: NodeJS.Timeout;
  // Keyed digits, in memory for the call only.
  pan: string | null;
  expMonth: number | null;
  expYear: number | null;
  cvc: string | null;
  errors: number;
  cards: number;
  result: SessionEnd['result'];
}

export interface CaptureOptions {
  pipeline: VerifyPipeline;
  logger: Logger;
  /** A session not finished in this time ends as abandoned. */
  sessionTtlMs?: number;
  /** Wrong entries in a row before the call gives up. */
  maxErrors?: number;
  /** Cards a caller may try after a decline. */
  maxCards?: number;
  maxNoInput?: number;
  now?: () => number;
}

export type Reply = { status: number; vxml: string };

export class CaptureFlow extends EventEmitter<{ ended: [SessionEnd] }> {
  private readonly sessions = new Map<string, Session>();
  private readonly o: Required<Omit<CaptureOptions, 'pipeline' | 'logger'>>;

  constructor(private readonly deps: CaptureOptions) {
    super();
    this.o = { sessionTtlMs: 10 * 60_000, maxErrors: 3, maxCards: 2, maxNoInput: 3, now: Date.now, ...stripUndefined(deps) };
  }

  get active(): number {
    return this.sessions.size;
  }

  create(input: SessionInput): { sessionId: string; startPath: string } {
    // The id is the call's capability: 128 random bits, only ever handed to the platform.
    const id = randomBytes(16).toString('hex');
    const s: Session = {
      id,
      input,
      identity: Object.entries(input.identity ?? {}),
      phrases: ivrPhrases(input.lang),
      expiresAt: this.o.now() + this.o.sessionTtlMs,
      timer: setTimeout(() => this.end(s, 'abandoned'), this.o.sessionTtlMs),
      pan: null,
      expMonth: null,
      expYear: null,
      cvc: null,
      errors: 0,
      cards: 0,
      result: null,
    };
    s.timer.unref();
    this.sessions.set(id, s);
    this.deps.logger.info({ ivrSession: id.slice(0, 8), orderId: input.order.id, callId: input.callId ?? null }, 'ivr session opened');
    return { sessionId: id, startPath: `/v1/ivr/s/${id}/start` };
  }

  private find(id: string): Session | null {
    const s = this.sessions.get(id);
    if (!s) return null;
    // Compare in constant time anyway: the id is a secret.
    return timingSafeEqual(Buffer.from(s.id), Buffer.from(id)) ? s : null;
  }

  private end(s: Session, end: CallEnd): void {
    if (!this.sessions.delete(s.id)) return;
    clearTimeout(s.timer);
    wipe(s);
    this.deps.logger.info({ ivrSession: s.id.slice(0, 8), orderId: s.input.order.id, callId: s.input.callId ?? null, end, decision: s.result?.decision ?? null }, 'ivr session ended');
    this.emit('ended', { sessionId: s.id, callId: s.input.callId ?? null, orderId: s.input.order.id, end, result: s.result });
  }

  /** Drops a session whose call was never answered (no event: the campaign already knows). */
  discard(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    clearTimeout(s.timer);
    wipe(s);
  }

  /** Ends every session (bridge shutdown): calls in progress count as hang-ups. */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) this.end(s, 'hangup');
  }

  private docOpts(s: Session): DocOptions {
    return { lang: s.input.lang, hangupNext: this.path(s, 'hangup') };
  }
  private path(s: Session, step: string): string {
    return `/v1/ivr/s/${s.id}/${step}`;
  }
  private gone(): Reply {
    return { status: 200, vxml: sayDocument({ lang: 'en', hangupNext: '/v1/ivr/gone' }, [ivrPhrases('en').unavailable], 'disconnect') };
  }

  // ------------------------------------------------------------ documents
  start(id: string): Reply {
    const s = this.find(id);
    if (!s) return this.gone();
    const p = s.phrases;
    const amount = formatMinorUnits(s.input.order.amount.value, s.input.order.amount.currency);
    return {
      status: 200,
      vxml: menuDocument(this.docOpts(s), {
        id: 'main',
        prompt: `${p.welcome(amount, s.input.order.id)} ${p.menu}`,
        choices: [
          { dtmf: '1', next: this.path(s, 'card') },
          { dtmf: '2', next: this.path(s, 'start') },
        ],
        noInput: p.noInput,
        noMatch: p.noMatch,
        maxNoInput: this.o.maxNoInput,
        timeoutNext: this.path(s, 'timeout'),
      }),
    };
  }

  private field(s: Session, step: Step, notice?: string): Reply {
    const p = s.phrases;
    const common = { notice, noMatch: p.noMatch, noInput: p.noInput, maxNoInput: this.o.maxNoInput, timeoutNext: this.path(s, 'timeout') };
    let spec;
    switch (step.kind) {
      case 'card':
        spec = { name: 'pan', prompt: p.enterCard, min: 12, max: 19, next: this.path(s, 'card') };
        break;
      case 'expiry':
        spec = { name: 'expiry', prompt: p.enterExpiry, min: 4, max: 4, next: this.path(s, 'expiry') };
        break;
      case 'cvc':
        spec = { name: 'cvc', prompt: p.enterCvc, min: 3, max: 4, next: this.path(s, 'cvc') };
        break;
      case 'identity': {
        const [name] = s.identity[step.index];
        spec = { name: 'identity', prompt: p.enterIdentity(identityLabel(name, s.input.lang)), min: 1, max: 16, next: this.path(s, `identity/${step.index}`) };
        break;
      }
    }
    return { status: 200, vxml: fieldDocument(this.docOpts(s), { ...spec, ...common }) };
  }

  cardPrompt(id: string): Reply {
    const s = this.find(id);
    if (!s) return this.gone();
    wipe(s);
    return this.field(s, { kind: 'card' });
  }

  /** A wrong entry: re-prompt the same field, or give up after maxErrors in a row. */
  private wrong(s: Session, step: Step, why: string): Reply {
    if (++s.errors >= this.o.maxErrors) {
      this.end(s, 'failed');
      return { status: 200, vxml: sayDocument(this.docOpts(s), [s.phrases.tooManyErrors, s.phrases.goodbye], 'disconnect') };
    }
    return this.field(s, step, why);
  }

  private nextAfter(s: Session, done: Step): Step | null {
    if (done.kind === 'card') return { kind: 'expiry' };
    if (done.kind === 'expiry' && s.input.requireCvc !== false) return { kind: 'cvc' };
    const next = done.kind === 'identity' ? done.index + 1 : 0;
    return next < s.identity.length ? { kind: 'identity', index: next } : null;
  }

  private async advance(s: Session, done: Step): Promise<Reply> {
    s.errors = 0;
    const next = this.nextAfter(s, done);
    return next ? this.field(s, next) : this.verify(s);
  }

  async enter(id: string, step: 'card' | 'expiry' | 'cvc' | `identity/${number}`, value: unknown): Promise<Reply> {
    const s = this.find(id);
    if (!s) return this.gone();
    const digits = typeof value === 'string' && /^[0-9]{1,19}$/.test(value) ? value : null;
    const p = s.phrases;
    const year = new Date(this.o.now()).getUTCFullYear();
    if (step === 'card') {
      if (!digits) return this.wrong(s, { kind: 'card' }, p.badCard);
      try {
        checkCard({ number: digits, expMonth: 12, expYear: year + 1 }, new Date(this.o.now()));
      } catch (e) {
        if (e instanceof FormatCheckError) return this.wrong(s, { kind: 'card' }, p.badCard);
        throw e;
      }
      s.pan = digits;
      return this.advance(s, { kind: 'card' });
    }
    if (!s.pan) return this.field(s, { kind: 'card' });
    if (step === 'expiry') {
      const m = digits && /^([0-9]{2})([0-9]{2})$/.exec(digits);
      if (!m) return this.wrong(s, { kind: 'expiry' }, p.badExpiry);
      try {
        checkCard({ number: s.pan, expMonth: Number(m[1]), expYear: Number(m[2]) }, new Date(this.o.now()));
      } catch (e) {
        if (e instanceof FormatCheckError) return this.wrong(s, { kind: 'expiry' }, p.badExpiry);
        throw e;
      }
      s.expMonth = Number(m[1]);
      s.expYear = Number(m[2]);
      return this.advance(s, { kind: 'expiry' });
    }
    if (s.expMonth === null || s.expYear === null) return this.field(s, { kind: 'expiry' });
    if (step === 'cvc') {
      try {
        if (!digits) throw new FormatCheckError('CVC_INVALID', 'card.cvc', 'no digits');
        checkCard({ number: s.pan, expMonth: s.expMonth, expYear: s.expYear, cvc: digits }, new Date(this.o.now()));
      } catch (e) {
        if (e instanceof FormatCheckError) return this.wrong(s, { kind: 'cvc' }, p.badCard);
        throw e;
      }
      s.cvc = digits;
      return this.advance(s, { kind: 'cvc' });
    }
    const index = Number(step.slice('identity/'.length));
    const expected = s.identity[index];
    if (!expected) return this.gone();
    const a = Buffer.from(digits ?? '');
    const b = Buffer.from(expected[1]);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return this.wrong(s, { kind: 'identity', index }, p.badIdentity);
    return this.advance(s, { kind: 'identity', index });
  }

  private async verify(s: Session): Promise<Reply> {
    const p = s.phrases;
    const input = s.input;
    let r: VerifyResult;
    try {
      r = await this.deps.pipeline.verify({
        card: { number: s.pan!, expMonth: s.expMonth!, expYear: s.expYear!, ...(s.cvc ? { cvc: s.cvc } : {}) },
        order: { id: input.order.id, amount: input.order.amount, ...(input.order.country ? { country: input.order.country } : {}) },
        ...(input.accountId ? { customer: { accountId: input.accountId } } : {}),
        lang: input.lang,
      });
    } catch (e) {
      wipe(s);
      if (e instanceof FormatCheckError) return this.wrong(s, { kind: 'card' }, p.badCard);
      this.deps.logger.error({ ivrSession: s.id.slice(0, 8), code: codeOf(e) ?? 'INTERNAL' }, 'ivr verification failed');
      this.end(s, 'failed');
      return { status: 200, vxml: sayDocument(this.docOpts(s), [p.unavailable], 'disconnect') };
    }
    wipe(s);
    s.cards++;
    s.result = { decision: r.decision, reason: r.reason, stage: r.stage, prompt: r.prompt };
    const said = [r.decision === 'approve' ? p.approved : r.decision === 'decline' ? p.declined : p.review];
    if (r.prompt?.message) said.push(r.prompt.message);
    if (r.decision === 'decline' && s.cards < this.o.maxCards) {
      return {
        status: 200,
        vxml: menuDocument(this.docOpts(s), {
          id: 'retry',
          prompt: `${said.join(' ')} ${p.retryMenu}`,
          choices: [
            { dtmf: '1', next: this.path(s, 'card') },
            { dtmf: '2', next: this.path(s, 'bye') },
          ],
          noInput: p.noInput,
          noMatch: p.noMatch,
          maxNoInput: this.o.maxNoInput,
          timeoutNext: this.path(s, 'bye'),
        }),
      };
    }
    this.end(s, 'completed');
    return { status: 200, vxml: sayDocument(this.docOpts(s), [...said, p.goodbye], 'disconnect') };
  }

  bye(id: string): Reply {
    const s = this.find(id);
    if (!s) return this.gone();
    this.end(s, s.result ? 'completed' : 'hangup');
    return { status: 200, vxml: sayDocument(this.docOpts(s), [s.phrases.goodbye], 'disconnect') };
  }

  timeout(id: string): Reply {
    const s = this.find(id);
    if (!s) return this.gone();
    this.end(s, s.result ? 'completed' : 'timeout');
    return { status: 200, vxml: sayDocument(this.docOpts(s), [s.phrases.timeout, s.phrases.goodbye], 'disconnect') };
  }

  /** The platform reports the caller hung up (connection.disconnect.hangup). */
  hangup(id: string): Reply {
    const s = this.find(id);
    if (s) this.end(s, s.result ? 'completed' : 'hangup');
    return { status: 200, vxml: '<?xml version="1.0" encoding="UTF-8"?>\n<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form><block><exit/></block></form></vxml>\n' };
  }
}

function wipe(s: Session): void {
  s.pan = null;
  s.cvc = null;
  s.expMonth = null;
  s.expYear = null;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'pipeline' && k !== 'logger')) as Partial<T>;
}
