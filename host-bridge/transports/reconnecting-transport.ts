// Keeps a MessageTransport to one device alive across link losses (BLE drops, cable replugs).
// A loss fails the exchange in flight with DISCONNECTED (it is never replayed: the device may
// have acted on it, and the session layer must decide), emits 'disconnect', and reconnects in
// the background with exponential backoff; 'reconnect' is emitted when the link is back. A
// request made while disconnected waits for the link up to its timeout, within its budget.

import { EventEmitter } from 'node:events';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import { checkTimeout } from './exchange.ts';
import { DEFAULT_EXCHANGE_TIMEOUT_MS, type MessageTransport, type RequestOptions } from './types.ts';
import type { LinkKind } from '../../protocol/link-kind.ts';

export interface ReconnectingTransportOptions {
  link: LinkKind;
  address: string;
  connect: () => Promise<MessageTransport>;
  /** Backoff between reconnect attempts: starts at minMs, doubles up to maxMs (default 100..5000). */
  backoff?: { minMs: number; maxMs: number };
}

/** Events: 'disconnect' (ProtocolError), 'reconnect' (), 'reconnect-failed' (error of one attempt). */
export class ReconnectingTransport extends EventEmitter implements MessageTransport {
  readonly link: LinkKind;
  readonly address: string;
  private inner: MessageTransport | null = null;
  private lastMax = 0;
  private closed = false;
  private waiters = new Set<() => void>();
  private loop: Promise<void> | null = null;

  private constructor(private readonly opts: ReconnectingTransportOptions) {
    super();
    this.link = opts.link;
    this.address = opts.address;
  }

  /** Connect once (errors propagate), then keep the link up. */
  static async open(opts: ReconnectingTransportOptions): Promise<ReconnectingTransport> {
    const t = new ReconnectingTransport(opts);
    t.attach(await opts.connect());
    return t;
  }

  get maxMessageSize(): number {
    return this.inner?.maxMessageSize ?? this.lastMax;
  }

  get connected(): boolean {
    return this.inner !== null;
  }

  async request(msg: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const timeoutMs = checkTimeout(opts.timeoutMs, DEFAULT_EXCHANGE_TIMEOUT_MS);
    if (this.closed) throw new ProtocolError('DISCONNECTED', `${this.address} closed`);
    // The wait for the link comes out of the call's budget too.
    if (!this.inner) await this.waitConnected(opts.deadline ? opts.deadline.cap(timeoutMs) : timeoutMs, opts.signal);
    return this.inner!.request(msg, opts);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters) w();
    const inner = this.inner;
    this.inner = null;
    await inner?.close();
  }

  private attach(t: MessageTransport): void {
    this.inner = t;
    this.lastMax = t.maxMessageSize;
    t.once('disconnect', (err: unknown) => {
      if (this.inner !== t) return;
      this.inner = null;
      this.emit('disconnect', asProtocolError(err, 'DISCONNECTED'));
      if (!this.closed) this.loop ??= this.reconnect().finally(() => (this.loop = null));
    });
    for (const w of this.waiters) w();
  }

  private async reconnect(): Promise<void> {
    const { minMs, maxMs } = this.opts.backoff ?? { minMs: 100, maxMs: 5000 };
    let wait = minMs;
    while (!this.closed && !this.inner) {
      try {
        const t = await this.opts.connect();
        if (this.closed) {
          await t.close();
          return;
        }
        this.attach(t);
        this.emit('reconnect');
        return;
      } catch (e) {
        this.emit('reconnect-failed', asProtocolError(e));
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, maxMs);
    }
  }

  private waitConnected(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: ProtocolError): void => {
        clearTimeout(t);
        this.waiters.delete(wake);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const wake = (): void => done(this.closed ? new ProtocolError('DISCONNECTED', `${this.address} closed`) : undefined);
      const onAbort = (): void => done(new ProtocolError('CANCELLED', 'cancelled while reconnecting'));
      const t = setTimeout(() => done(new ProtocolError('TIMEOUT', `${this.address} not reconnected within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
