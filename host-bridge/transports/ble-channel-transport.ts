// BLE transport core (host side), after CTAP-over-BLE: request fragments are written to the
// control point, response fragments arrive as status notifications. One transaction at a time;
// KEEPALIVE extends the idle timeout; ERROR frames become ProtocolErrors; timeout/abort sends
// CANCEL and holds the next exchange until the device has answered the cancelled one (or
// `cancelDrainMs`). Used by BleTransport (noble) and BleCableTransport (unix socket).

import { EventEmitter } from 'node:events';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import {
  BLE_CMD,
  BLE_DEFAULT_MAX_MESSAGE,
  BleReassembler,
  decodeBleError,
  fragmentBleMessage,
} from '../../protocol/framing/ble.ts';
import { SerialQueue, checkTimeout, disconnectedError, startExchange, type Exchange } from './exchange.ts';
import type { ReportPort } from './report-port.ts';
import { DEFAULT_EXCHANGE_TIMEOUT_MS, type MessageTransport, type RequestOptions } from './types.ts';

export interface BleChannelOptions {
  link: 'ble' | 'ble-cable';
  address: string;
  /** Fragment size for control point writes: min(control point length, ATT MTU − 3). */
  writeFrameLength: number;
  /** Largest notification accepted (the device's control point length, or MTU − 3). */
  notifyFrameLength: number;
  maxMessageSize?: number;
  cancelDrainMs?: number;
}

interface Answer {
  cmd: number;
  payload: Uint8Array;
}

/** Events: 'disconnect' (ProtocolError), 'keepalive'. */
export class BleChannelTransport extends EventEmitter implements MessageTransport {
  readonly link: 'ble' | 'ble-cable';
  readonly address: string;
  readonly maxMessageSize: number;
  readonly writeFrameLength: number;
  private readonly reassembler: BleReassembler;
  private readonly queue = new SerialQueue();
  private current: Exchange<Answer> | null = null;
  private gone: ProtocolError | null = null;
  private drain: Promise<void> | null = null;
  private drainDone: (() => void) | null = null;
  private readonly cancelDrainMs: number;

  constructor(
    private readonly port: ReportPort,
    opts: BleChannelOptions,
  ) {
    super();
    this.link = opts.link;
    this.address = opts.address;
    this.writeFrameLength = opts.writeFrameLength;
    this.maxMessageSize = opts.maxMessageSize ?? BLE_DEFAULT_MAX_MESSAGE;
    this.cancelDrainMs = opts.cancelDrainMs ?? 1000;
    this.reassembler = new BleReassembler(opts.notifyFrameLength, { maxMessageSize: this.maxMessageSize });
    port.onData((f) => this.onNotify(f));
    port.onClose((err) => this.markGone(disconnectedError(this.address, err)));
  }

  request(msg: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const timeoutMs = checkTimeout(opts.timeoutMs, DEFAULT_EXCHANGE_TIMEOUT_MS);
    if (msg.length > this.maxMessageSize) {
      return Promise.reject(new ProtocolError('TOO_LARGE', `message over ${this.maxMessageSize} bytes`, String(msg.length)));
    }
    return this.queue.run(async () => (await this.transact(BLE_CMD.MSG, msg, timeoutMs, opts.signal)).payload);
  }

  ping(payload: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const timeoutMs = checkTimeout(opts.timeoutMs, DEFAULT_EXCHANGE_TIMEOUT_MS);
    return this.queue.run(async () => (await this.transact(BLE_CMD.PING, payload, timeoutMs, opts.signal)).payload);
  }

  async close(): Promise<void> {
    this.markGone(new ProtocolError('DISCONNECTED', `${this.address} closed`), false);
    await this.port.close().catch(() => undefined);
  }

  private async transact(cmd: number, payload: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<Answer> {
    if (this.drain) await this.drain;
    if (this.gone) throw this.gone;
    this.reassembler.reset();
    const ex = startExchange<Answer>({ timeoutMs, signal, label: `BLE exchange with ${this.address}`, onGiveUp: () => this.cancel() });
    this.current = ex;
    try {
      for (const f of fragmentBleMessage(cmd, payload, this.writeFrameLength, this.maxMessageSize)) {
        if (ex.settled) break;
        await this.port.write(f);
      }
    } catch (e) {
      ex.reject(this.gone ?? asProtocolError(e, 'DISCONNECTED'));
    }
    try {
      const a = await ex.promise;
      if (a.cmd !== cmd) throw new ProtocolError('BAD_FRAME', `BLE answer has command 0x${a.cmd.toString(16)}`);
      return a;
    } finally {
      this.current = null;
    }
  }

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
    this.reassembler.reset();
    this.port.write(fragmentBleMessage(BLE_CMD.CANCEL, new Uint8Array(0), this.writeFrameLength)[0]).catch(() => undefined);
  }

  private onNotify(f: Uint8Array): void {
    const res = this.reassembler.feed(f);
    if (res.kind === 'pending') {
      this.current?.touch();
      return;
    }
    if (res.kind === 'error') {
      this.current?.reject(res.error);
      return;
    }
    if (res.cmd === BLE_CMD.KEEPALIVE) {
      this.current?.touch();
      this.emit('keepalive');
      return;
    }
    if (this.drainDone) {
      this.drainDone();
      if (!this.current) return;
    }
    if (res.cmd === BLE_CMD.ERROR) {
      let err: ProtocolError;
      try {
        err = decodeBleError(res.payload).error;
      } catch (e) {
        err = asProtocolError(e, 'BAD_FRAME');
      }
      this.current?.reject(err);
      return;
    }
    this.current?.resolve({ cmd: res.cmd, payload: res.payload });
  }

  private markGone(err: ProtocolError, emit = true): void {
    if (this.gone) return;
    this.gone = err;
    this.current?.reject(err);
    this.drainDone?.();
    if (emit) this.emit('disconnect', err);
  }
}
