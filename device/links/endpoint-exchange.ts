// The transaction machinery the device's HID and BLE endpoints share (both after CTAP): one
// request in flight with KEEPALIVE while the handler works and CANCEL that silences its late
// answer, a reassembly timeout, and an ordered frame writer. Each endpoint keeps its own framing
// (HID reports on channels vs BLE fragments) and decides what goes on the wire.

import type { MessageHandler, RejectedFrame } from './types.ts';

/** What both endpoints take besides their link's own options. */
export interface EndpointOptions {
  handler: MessageHandler;
  onRejectedFrame?: (info: RejectedFrame) => void;
  /** KEEPALIVE period while the handler works (ms, default 100 as in CTAP). */
  keepaliveMs?: number;
  /** Drop a message whose next fragment is this late (ms, default 3000); the link's timeout ERROR. */
  reassemblyTimeoutMs?: number;
  maxMessageSize?: number;
}

/** What both endpoints count (each adds its link's frames). */
export interface EndpointStats {
  messages: number;
  rejected: number;
  keepalives: number;
  cancels: number;
}

/** An endpoint's exchange machinery at close: no more frames out, no timer, the running request silenced. */
export function stopExchange(writer: OrderedFrameWriter, timer: ReassemblyTimer, inFlight: InFlightRequest<unknown>): void {
  writer.close();
  timer.clear();
  inFlight.end(true);
}

/** Tell the driver about a rejected frame; its callback must never break the link. */
export function reportRejected(cb: ((info: RejectedFrame) => void) | undefined, info: RejectedFrame): void {
  try {
    cb?.(info);
  } catch {
    // counting must never break the link
  }
}

export interface InFlightHooks {
  /** Called every keepalive period while the handler works (send KEEPALIVE). */
  keepalive(): void;
  answer(resp: Uint8Array): void;
  fail(error: unknown): void;
}

/** At most one request in flight; `key` names it (the HID channel; nothing on BLE). */
export class InFlightRequest<K = undefined> {
  private busy: { key: K; cancelled: boolean; keepalive: NodeJS.Timeout } | null = null;

  constructor(private readonly keepaliveMs: number) {}

  get active(): boolean {
    return this.busy !== null;
  }

  get key(): K | undefined {
    return this.busy?.key;
  }

  /** Run the handler; its answer or failure is delivered unless the request ended first. */
  start(key: K, run: () => Promise<Uint8Array>, hooks: InFlightHooks): void {
    const busy = {
      key,
      cancelled: false,
      keepalive: setInterval(() => {
        if (!busy.cancelled) hooks.keepalive();
      }, this.keepaliveMs),
    };
    this.busy = busy;
    let answer: Promise<Uint8Array>;
    try {
      answer = run();
    } catch (e) {
      answer = Promise.reject(e);
    }
    // A cancelled (or superseded) request's answer is dropped: the host has been told already.
    const current = (): boolean => !busy.cancelled && this.busy === busy;
    answer.then(
      (resp) => {
        if (!current()) return;
        this.end(false);
        hooks.answer(resp);
      },
      (e: unknown) => {
        if (!current()) return;
        this.end(false);
        hooks.fail(e);
      },
    );
  }

  /** Stop the keepalive; `cancelled` also drops the handler's eventual answer. */
  end(cancelled: boolean): void {
    if (!this.busy) return;
    clearInterval(this.busy.keepalive);
    this.busy.cancelled = cancelled;
    this.busy = null;
  }
}

/** Drops a half-received message when its next frame is this late. */
export class ReassemblyTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private readonly onExpire: () => void,
  ) {}

  arm(): void {
    this.clear();
    this.timer = setTimeout(this.onExpire, this.ms);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** After feeding a fragment: runs while the message is incomplete (false), stops once it completed or failed (true). */
  settled<R extends { kind: string }>(res: R): res is Exclude<R, { kind: 'pending' }> {
    if (res.kind === 'pending') {
      this.arm();
      return false;
    }
    this.clear();
    return true;
  }
}

/** The frames of one message go out back to back, never interleaved with another's. */
export class OrderedFrameWriter {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly write: (frame: Uint8Array) => Promise<void>) {}

  queue(frames: Uint8Array[]): void {
    if (this.closed) return;
    this.chain = this.chain
      .then(async () => {
        for (const f of frames) {
          if (this.closed) return;
          await this.write(f);
        }
      })
      .catch(() => {
        // The transport went away; the driver notices through its own close path.
      });
  }

  close(): void {
    this.closed = true;
  }
}
