// The host side of a CTAP-style link, shared by the HID and BLE channel transports: one
// transaction at a time, KEEPALIVE extends the idle timeout, ERROR answers become
// ProtocolErrors, and timeout/abort sends CANCEL and holds the next exchange until the device
// has answered the cancelled one (or `cancelDrainMs`), so a late answer is never taken for the
// next request's. Subclasses supply the framing (HID reports on a channel vs BLE fragments).

import { EventEmitter } from 'node:events';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import { SerialQueue, checkBudget, checkTimeout, disconnectedError, startExchange, type Exchange } from './exchange.ts';
import type { ReportPort } from './report-port.ts';
import { DEFAULT_EXCHANGE_TIMEOUT_MS, type MessageTransport, type RequestOptions } from './types.ts';
import type { LinkKind } from '../../protocol/link-kind.ts';

/** A reassembled message from the device. */
export interface FramedAnswer {
  cmd: number;
  payload: Uint8Array;
}

export interface FramedChannelSetup {
  address: string;
  /** "HID" / "BLE": names the link in timeout and error messages. */
  name: string;
  /** The framing's command codes. */
  cmd: { MSG: number; PING: number; KEEPALIVE: number; ERROR: number };
  cancelDrainMs?: number;
}

/** Events: 'disconnect' (ProtocolError), 'keepalive' (the device said it is still working). */
export abstract class FramedChannelTransport<A extends FramedAnswer> extends EventEmitter implements MessageTransport {
  readonly address: string;
  abstract readonly link: LinkKind;
  abstract readonly maxMessageSize: number;
  protected current: Exchange<A> | null = null;
  protected gone: ProtocolError | null = null;
  private readonly queue = new SerialQueue();
  private drain: Promise<void> | null = null;
  private drainDone: (() => void) | null = null;
  private readonly cancelDrainMs: number;
  private readonly setup: FramedChannelSetup;

  protected constructor(
    protected readonly port: ReportPort,
    setup: FramedChannelSetup,
  ) {
    super();
    this.setup = setup;
    this.address = setup.address;
    this.cancelDrainMs = setup.cancelDrainMs ?? 1000;
    port.onData((d) => this.onFrame(d));
    port.onClose((err) => this.markGone(disconnectedError(this.address, err)));
  }

  /** One frame from the port: reassemble it, then call `touch`/`fail`/`settle`. */
  protected abstract onFrame(frame: Uint8Array): void;
  /** Write one message's frames; `ex` tells whether the exchange already ended. */
  protected abstract writeMessage(cmd: number, payload: Uint8Array, ex: Exchange<A>): Promise<void>;
  /** Write CANCEL for the running transaction (errors are ignored). */
  protected abstract writeCancel(): Promise<void>;
  /** Decode an ERROR answer's payload to the device's ProtocolError. */
  protected abstract decodeError(payload: Uint8Array): ProtocolError;
  /** Called before each transaction and on CANCEL (BLE restarts reassembly; HID need not). */
  protected resetReassembly(): void {}

  request(msg: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const timeoutMs = checkTimeout(opts.timeoutMs, DEFAULT_EXCHANGE_TIMEOUT_MS);
    if (msg.length > this.maxMessageSize) {
      return Promise.reject(new ProtocolError('TOO_LARGE', `message over ${this.maxMessageSize} bytes`, String(msg.length)));
    }
    return this.queue.run(async () => (await this.transact(this.setup.cmd.MSG, msg, timeoutMs, opts)).payload);
  }

  /** PING: the device echoes the payload. */
  ping(payload: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const timeoutMs = checkTimeout(opts.timeoutMs, DEFAULT_EXCHANGE_TIMEOUT_MS);
    return this.queue.run(async () => (await this.transact(this.setup.cmd.PING, payload, timeoutMs, opts)).payload);
  }

  async close(): Promise<void> {
    this.markGone(new ProtocolError('DISCONNECTED', `${this.address} closed`), false);
    await this.port.close().catch(() => undefined);
  }

  private async transact(cmd: number, payload: Uint8Array, timeoutMs: number, opts: RequestOptions): Promise<A> {
    if (this.drain) await this.drain;
    if (this.gone) throw this.gone;
    const label = `${this.setup.name} exchange with ${this.address}`;
    checkBudget(opts.deadline, label);
    this.resetReassembly();
    const ex = startExchange<A>({
      timeoutMs,
      deadline: opts.deadline,
      signal: opts.signal,
      label,
      onGiveUp: () => this.cancel(),
    });
    this.current = ex;
    try {
      await this.writeMessage(cmd, payload, ex);
    } catch (e) {
      ex.reject(this.gone ?? asProtocolError(e, 'DISCONNECTED'));
    }
    try {
      const a = await ex.promise;
      if (a.cmd !== cmd) throw new ProtocolError('BAD_FRAME', `${this.setup.name} answer has command 0x${a.cmd.toString(16)}`);
      return a;
    } finally {
      this.current = null;
    }
  }

  /** Send CANCEL and hold the next exchange until the device answers the cancelled one. */
  private cancel(): void {
    if (this.gone) return;
    this.drain = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        if (this.drainDone === done) this.drainDone = null;
        this.drain = null;
        resolve();
      };
      const t = setTimeout(done, this.cancelDrainMs);
      this.drainDone = done;
    });
    this.resetReassembly();
    this.writeCancel().catch(() => undefined);
  }

  /** A frame arrived but the message is not complete: a sign of life. */
  protected touch(): void {
    this.current?.touch();
  }

  protected fail(err: ProtocolError): void {
    this.current?.reject(err);
  }

  /** A complete message from the device. */
  protected settle(a: A): void {
    if (a.cmd === this.setup.cmd.KEEPALIVE) {
      this.current?.touch();
      this.emit('keepalive');
      return;
    }
    // Any final answer (MSG, PING, ERROR) ends a pending cancel drain.
    if (this.drainDone) {
      this.drainDone();
      if (!this.current) return;
    }
    if (a.cmd === this.setup.cmd.ERROR) {
      let err: ProtocolError;
      try {
        err = this.decodeError(a.payload);
      } catch (e) {
        err = asProtocolError(e, 'BAD_FRAME');
      }
      this.current?.reject(err);
      return;
    }
    this.current?.resolve(a);
  }

  private markGone(err: ProtocolError, emit = true): void {
    if (this.gone) return;
    this.gone = err;
    this.current?.reject(err);
    this.drainDone?.();
    if (emit) this.emit('disconnect', err);
  }
}
