// USB HID transport core (host side), after CTAPHID: allocate a channel with INIT on the
// broadcast channel (8-byte nonce), then one MSG transaction at a time on that channel.
// KEEPALIVE from the device extends the exchange's idle timeout; ERROR packets become
// ProtocolErrors; on timeout or abort the host sends CANCEL and holds the next exchange until
// the device has answered the cancelled one (or `cancelDrainMs` passed), so a late answer is
// never taken for the next request's. Used by HidTransport (node-hid) and HidCableTransport
// (unix socket) alike: the same bytes through the same code.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import {
  HID_BROADCAST_CID,
  HID_CMD,
  HID_INIT_NONCE_SIZE,
  HID_REPORT_SIZE,
  HidReassembler,
  decodeHidError,
  decodeHidInitResponse,
  encodeHidInitRequest,
  fragmentHidMessage,
  type HidMessage,
} from '../../protocol/framing/hid.ts';
import { SerialQueue, checkTimeout, disconnectedError, startExchange, type Exchange } from './exchange.ts';
import type { ReportPort } from './report-port.ts';
import { DEFAULT_EXCHANGE_TIMEOUT_MS, type MessageTransport, type RequestOptions, type TransportLink } from './types.ts';

export interface HidChannelOptions {
  link: Extract<TransportLink, 'usb' | 'hid-cable'>;
  address: string;
  /** INIT answer timeout (ms, default 2000). */
  initTimeoutMs?: number;
  /** How long to wait for the device to answer a cancelled transaction (ms, default 1000). */
  cancelDrainMs?: number;
}

export interface HidChannelInfo {
  cid: number;
  protocolVersion: number;
  firmwareVersion: string;
  capabilities: number;
}

/** Events: 'disconnect' (ProtocolError), 'keepalive' (the device said it is still working). */
export class HidChannelTransport extends EventEmitter implements MessageTransport {
  readonly link: 'usb' | 'hid-cable';
  readonly address: string;
  private maxSize = 0;
  private cid = HID_BROADCAST_CID;
  private readonly queue = new SerialQueue();
  private reassembler: HidReassembler | null = null;
  private current: Exchange<HidMessage> | null = null;
  private gone: ProtocolError | null = null;
  private drain: Promise<void> | null = null;
  private drainDone: (() => void) | null = null;
  private channelInfo: HidChannelInfo | null = null;
  private readonly cancelDrainMs: number;

  private constructor(
    private readonly port: ReportPort,
    opts: HidChannelOptions,
  ) {
    super();
    this.link = opts.link;
    this.address = opts.address;
    this.cancelDrainMs = opts.cancelDrainMs ?? 1000;
    port.onData((r) => this.onReport(r));
    port.onClose((err) => this.markGone(disconnectedError(this.address, err)));
  }

  /** Open a channel on `port` (INIT handshake). Closes the port if the handshake fails. */
  static async open(port: ReportPort, opts: HidChannelOptions): Promise<HidChannelTransport> {
    const t = new HidChannelTransport(port, opts);
    try {
      await t.init(opts.initTimeoutMs ?? 2000);
      return t;
    } catch (e) {
      await port.close().catch(() => undefined);
      throw asProtocolError(e);
    }
  }

  get maxMessageSize(): number {
    return this.maxSize;
  }

  get info(): HidChannelInfo | null {
    return this.channelInfo;
  }

  request(msg: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const timeoutMs = checkTimeout(opts.timeoutMs, DEFAULT_EXCHANGE_TIMEOUT_MS);
    if (msg.length > this.maxSize) {
      return Promise.reject(new ProtocolError('TOO_LARGE', `message over ${this.maxSize} bytes`, String(msg.length)));
    }
    return this.queue.run(async () => {
      const m = await this.transact(HID_CMD.MSG, msg, timeoutMs, opts.signal);
      return m.payload;
    });
  }

  /** CTAPHID PING: the device echoes the payload. */
  ping(payload: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
    const timeoutMs = checkTimeout(opts.timeoutMs, DEFAULT_EXCHANGE_TIMEOUT_MS);
    return this.queue.run(async () => (await this.transact(HID_CMD.PING, payload, timeoutMs, opts.signal)).payload);
  }

  async close(): Promise<void> {
    this.markGone(new ProtocolError('DISCONNECTED', `${this.address} closed`), false);
    await this.port.close().catch(() => undefined);
  }

  private async init(timeoutMs: number): Promise<void> {
    const nonce = randomBytes(HID_INIT_NONCE_SIZE);
    const ex = startExchange<HidMessage>({ timeoutMs, label: `HID INIT on ${this.address}` });
    this.current = ex;
    this.reassembler = new HidReassembler();
    try {
      // Other hosts' INIT answers on the broadcast channel are told apart by the nonce.
      const wanted = (m: HidMessage): boolean =>
        m.cmd === HID_CMD.INIT && m.payload.length >= 8 && Buffer.from(m.payload.subarray(0, 8)).equals(nonce);
      this.initFilter = wanted;
      await this.writeReports(fragmentHidMessage(HID_BROADCAST_CID, HID_CMD.INIT, encodeHidInitRequest(nonce)));
      const m = await ex.promise;
      const r = decodeHidInitResponse(m.payload);
      this.cid = r.cid;
      this.maxSize = r.maxMessageSize;
      this.channelInfo = {
        cid: r.cid,
        protocolVersion: r.protocolVersion,
        firmwareVersion: `${r.versionMajor}.${r.versionMinor}.${r.versionBuild}`,
        capabilities: r.capabilities,
      };
      this.reassembler = new HidReassembler({ maxMessageSize: r.maxMessageSize });
    } finally {
      this.initFilter = null;
      this.current = null;
    }
  }

  private initFilter: ((m: HidMessage) => boolean) | null = null;

  private async transact(cmd: number, payload: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<HidMessage> {
    if (this.drain) await this.drain;
    if (this.gone) throw this.gone;
    const ex = startExchange<HidMessage>({
      timeoutMs,
      signal,
      label: `HID exchange with ${this.address}`,
      onGiveUp: () => this.cancel(),
    });
    this.current = ex;
    try {
      await this.writeReports(fragmentHidMessage(this.cid, cmd, payload, this.maxSize));
    } catch (e) {
      ex.reject(this.gone ?? asProtocolError(e, 'DISCONNECTED'));
    }
    try {
      const m = await ex.promise;
      if (m.cmd !== cmd) throw new ProtocolError('BAD_FRAME', `HID answer has command 0x${m.cmd.toString(16)}`);
      return m;
    } finally {
      this.current = null;
    }
  }

  /** Send CANCEL and hold the next exchange until the device answers the cancelled one. */
  private cancel(): void {
    if (this.gone) return;
    this.drain = new Promise<void>((resolve) => {
      const t = setTimeout(done, this.cancelDrainMs);
      const self = this;
      function done(): void {
        clearTimeout(t);
        if (self.drainDone === done) self.drainDone = null;
        self.drain = null;
        resolve();
      }
      this.drainDone = done;
    });
    this.writeReports(fragmentHidMessage(this.cid, HID_CMD.CANCEL, new Uint8Array(0))).catch(() => undefined);
  }

  private async writeReports(reports: Uint8Array[]): Promise<void> {
    for (const r of reports) {
      if (this.gone) throw this.gone;
      await this.port.write(r);
    }
  }

  private onReport(report: Uint8Array): void {
    if (report.length !== HID_REPORT_SIZE || !this.reassembler) return;
    const cid = ((report[0] << 24) | (report[1] << 16) | (report[2] << 8) | report[3]) >>> 0;
    // Only our channel (or the broadcast channel during INIT); other hosts' traffic is not ours.
    const ours = this.initFilter ? cid === HID_BROADCAST_CID : cid === this.cid;
    if (!ours) return;
    const res = this.reassembler.feed(report);
    if (res.kind === 'pending') {
      this.current?.touch();
      return;
    }
    if (res.kind === 'error') {
      this.current?.reject(res.error);
      return;
    }
    const m = res.message;
    if (this.initFilter) {
      if (this.initFilter(m)) this.current?.resolve(m);
      return;
    }
    if (m.cmd === HID_CMD.KEEPALIVE) {
      this.current?.touch();
      this.emit('keepalive');
      return;
    }
    // Any final answer (MSG, PING, ERROR) ends a pending cancel drain.
    if (this.drainDone) {
      this.drainDone();
      if (!this.current) return;
    }
    if (m.cmd === HID_CMD.ERROR) {
      let err: ProtocolError;
      try {
        err = decodeHidError(m.payload).error;
      } catch (e) {
        err = asProtocolError(e, 'BAD_FRAME');
      }
      this.current?.reject(err);
      return;
    }
    this.current?.resolve(m);
  }

  private markGone(err: ProtocolError, emit = true): void {
    if (this.gone) return;
    this.gone = err;
    this.current?.reject(err);
    this.drainDone?.();
    if (emit) this.emit('disconnect', err);
  }
}
