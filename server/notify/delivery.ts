// Delivery of queued notices: Standard Webhooks (webhook-id / webhook-timestamp /
// webhook-signature, signed with the endpoint's secret by the `standardwebhooks` package) or an SMS
// through the configured adapter. At least once: a message is claimed with a lease, sent, then
// marked delivered; a crash between the two re-sends it with the same webhook-id, which is what
// receivers deduplicate on. Failures retry with exponential backoff and full jitter, then go to the
// dead-letter state. A message deleted while in flight (consent withdrawn) is simply not marked.
import { EventEmitter } from 'node:events';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { SmsSendError, type SmsAdapter } from '../../protocol/channels/sms-adapter.ts';
import type { Logger } from '../log.ts';
import type { ClaimedMessage, NotifyStore } from './store.ts';

export interface DeliveryOptions {
  /** Attempts before a message is dead-lettered. */
  maxAttempts: number;
  /** First retry delay; doubles per attempt up to maxBackoffMs (full jitter). */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Per-request timeout of a webhook POST. */
  timeoutMs: number;
  /** Messages in flight at once. */
  concurrency: number;
  /** How often the queue is looked at without a kick (a CLI replay, a message of another process). */
  pollMs: number;
  clockMs: () => number;
  random: () => number;
  /** Why a webhook URL may no longer be called (the host policy of today), or null: refused → dead-lettered. */
  refuseUrl: (url: string) => string | null;
}

export const DELIVERY_DEFAULTS: DeliveryOptions = {
  maxAttempts: 8,
  baseBackoffMs: 2000,
  maxBackoffMs: 30 * 60_000,
  timeoutMs: 10_000,
  concurrency: 8,
  pollMs: 1000,
  clockMs: () => Date.now(),
  random: Math.random,
  refuseUrl: () => null,
};

export interface DeliveryEvent {
  id: string;
  endpointId: string;
  attempts: number;
  error?: string;
}

/** Backoff before attempt n+1 after n failed attempts: full jitter over base·2^(n-1), capped. */
export function backoffMs(failedAttempts: number, o: Pick<DeliveryOptions, 'baseBackoffMs' | 'maxBackoffMs' | 'random'>): number {
  const ceiling = Math.min(o.maxBackoffMs, o.baseBackoffMs * 2 ** Math.max(0, failedAttempts - 1));
  return Math.round(ceiling / 2 + (o.random() * ceiling) / 2);
}

class PermanentFailure extends Error {}

export class DeliveryWorker extends EventEmitter<{ delivered: [DeliveryEvent]; retry: [DeliveryEvent]; dead: [DeliveryEvent]; dropped: [DeliveryEvent] }> {
  private readonly o: DeliveryOptions;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private inFlight = new Set<Promise<void>>();
  private pumping = false;
  private again = false;

  constructor(
    private readonly store: NotifyStore,
    private readonly log: Logger,
    private readonly sms: SmsAdapter | null,
    options: Partial<DeliveryOptions> = {},
  ) {
    super();
    this.o = { ...DELIVERY_DEFAULTS, ...options };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.kick();
  }

  /** Look at the queue now (after an enqueue or a replay). */
  kick(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  private schedule(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    const next = this.store.nextDueAt();
    const now = this.o.clockMs();
    const wait = next === null ? this.o.pollMs : Math.max(0, Math.min(this.o.pollMs, next - now));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, wait);
    this.timer.unref();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        while (this.running) {
          const free = this.o.concurrency - this.inFlight.size;
          if (free <= 0) {
            await Promise.race(this.inFlight);
            continue;
          }
          const now = this.o.clockMs();
          // The lease outlives the request timeout, so only a crashed sender's messages come back.
          const batch = this.store.claim(now, now + this.o.timeoutMs * 3 + 5000, free);
          if (batch.length === 0) break;
          for (const m of batch) {
            const p: Promise<void> = this.deliver(m).finally(() => {
              this.inFlight.delete(p);
              this.kick();
            });
            this.inFlight.add(p);
          }
        }
      } while (this.again && this.running);
    } catch (e) {
      this.log.error({ err: e }, 'notice delivery loop failed');
    } finally {
      this.pumping = false;
      this.schedule();
    }
  }

  private async deliver(m: ClaimedMessage): Promise<void> {
    const attempts = m.attempts + 1;
    const ev: DeliveryEvent = { id: m.id, endpointId: m.endpointId, attempts };
    try {
      if (m.endpoint.kind === 'webhook') await this.postWebhook(m);
      else await this.sendSms(m);
      if (this.store.markDelivered(m.id, this.o.clockMs())) {
        this.log.info({ msgId: m.id, endpoint: m.endpointId, attempts }, 'notice delivered');
        this.emit('delivered', ev);
      } else this.emit('dropped', ev);
    } catch (e) {
      const error = (e as Error).message || String(e);
      ev.error = error;
      if (e instanceof PermanentFailure || attempts >= this.o.maxAttempts) {
        if (this.store.markDead(m.id, error)) {
          this.log.warn({ msgId: m.id, endpoint: m.endpointId, attempts, error }, 'notice dead-lettered');
          this.emit('dead', ev);
        } else this.emit('dropped', ev);
      } else {
        const next = this.o.clockMs() + backoffMs(attempts, this.o);
        if (this.store.markRetry(m.id, next, error)) {
          this.log.info({ msgId: m.id, endpoint: m.endpointId, attempts, error }, 'notice delivery failed; will retry');
          this.emit('retry', ev);
        } else this.emit('dropped', ev);
      }
    }
  }

  private async postWebhook(m: ClaimedMessage): Promise<void> {
    const { url, secret } = m.endpoint;
    if (!url || !secret) throw new PermanentFailure('endpoint has no URL or secret');
    const refused = this.o.refuseUrl(url);
    if (refused) throw new PermanentFailure(refused);
    const sentAt = new Date(this.o.clockMs());
    const signature = new Webhook(secret).sign(m.id, sentAt, m.payload);
    let status: number;
    try {
      const res = await request(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': m.id,
          'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
          'webhook-signature': signature,
          'user-agent': 'precheck-notify/1',
        },
        body: m.payload,
        headersTimeout: this.o.timeoutMs,
        bodyTimeout: this.o.timeoutMs,
      });
      status = res.statusCode;
      await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    } catch (e) {
      throw new Error(`webhook request failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (status >= 200 && status < 300) return;
    // 410 Gone: the receiver says this endpoint will never accept again (Standard Webhooks).
    if (status === 410) throw new PermanentFailure('receiver answered 410 Gone');
    throw new Error(`receiver answered ${status}`);
  }

  private async sendSms(m: ClaimedMessage): Promise<void> {
    if (!this.sms) throw new Error('no SMS adapter configured');
    if (!m.endpoint.phone) throw new PermanentFailure('endpoint has no phone number');
    const payload = JSON.parse(m.payload) as { data: { text: string } };
    try {
      // 612 characters: four concatenated GSM segments; longer notices are cut, never split.
      await this.sms.send({ id: m.id, to: m.endpoint.phone, text: payload.data.text.slice(0, 612) });
    } catch (e) {
      if (e instanceof SmsSendError && !e.retryable) throw new PermanentFailure(e.message);
      throw e;
    }
  }

  /** Stops taking messages and waits for those in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inFlight]);
  }
}
