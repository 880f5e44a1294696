// A SessionTransport that passes every exchange through and records the size of each request
// and answer message, so a benchmark can count what the link's framing put on the wire for them
// (HID reports, BLE fragments) without touching the transport's code.

import { EventEmitter } from 'node:events';
import type { SessionTransport } from '../../host-bridge/session/exchange.ts';

export class CountingTransport extends EventEmitter implements SessionTransport {
  /** [request bytes, answer bytes] of every completed exchange since the last reset(). */
  exchanges: [number, number][] = [];

  constructor(readonly inner: SessionTransport) {
    super();
    inner.on?.('disconnect', (...a: unknown[]) => this.emit('disconnect', ...a));
    inner.on?.('reconnect', (...a: unknown[]) => this.emit('reconnect', ...a));
  }
  get link(): string {
    return this.inner.link;
  }
  get address(): string {
    return this.inner.address;
  }
  get maxMessageSize(): number | undefined {
    return this.inner.maxMessageSize;
  }
  async request(msg: Uint8Array, opts?: { timeoutMs?: number }): Promise<Uint8Array> {
    const answer = await this.inner.request(msg, opts);
    this.exchanges.push([msg.length, answer.length]);
    return answer;
  }
  reset(): void {
    this.exchanges = [];
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}
