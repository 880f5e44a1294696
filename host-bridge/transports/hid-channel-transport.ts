// USB HID transport core (host side), after CTAPHID: allocate a channel with INIT on the
// broadcast channel (8-byte nonce), then one MSG transaction at a time on that channel.
// KEEPALIVE from the device extends the exchange's idle timeout; ERROR packets become
// ProtocolErrors; on timeout or abort the host sends CANCEL and holds the next exchange until
// the device has answered the cancelled one (or `cancelDrainMs` passed), so a late answer is
// never taken for the next request's. Used by HidTransport (node-hid) and HidCableTransport
// (unix socket) alike: the same bytes through the same code.

import { randomBytes } from 'node:crypto';
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
import { startExchange } from './exchange.ts';
import { FramedChannelTransport } from './framed-channel-transport.ts';
import type { ReportPort } from './report-port.ts';
import type { LinkKind } from '../../protocol/link-kind.ts';

export interface HidChannelOptions {
  link: Extract<LinkKind, 'usb' | 'hid-cable'>;
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
export class HidChannelTransport extends FramedChannelTransport<HidMessage> {
  readonly link: 'usb' | 'hid-cable';
  private maxSize = 0;
  private cid = HID_BROADCAST_CID;
  private reassembler: HidReassembler | null = null;
  private channelInfo: HidChannelInfo | null = null;
  /** Set during INIT: picks our answer out of the broadcast channel. */
  private initFilter: ((m: HidMessage) => boolean) | null = null;

  private constructor(port: ReportPort, opts: HidChannelOptions) {
    super(port, { address: opts.address, name: 'HID', cmd: HID_CMD, cancelDrainMs: opts.cancelDrainMs });
    this.link = opts.link;
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

  private async init(timeoutMs: number): Promise<void> {
    const nonce = randomBytes(HID_INIT_NONCE_SIZE);
    const ex = startExchange<HidMessage>({ timeoutMs, label: `HID INIT on ${this.address}` });
    this.current = ex;
    this.reassembler = new HidReassembler();
    try {
      // Other hosts' INIT answers on the broadcast channel are told apart by the nonce.
      this.initFilter = (m) =>
        m.cmd === HID_CMD.INIT && m.payload.length >= 8 && Buffer.from(m.payload.subarray(0, 8)).equals(nonce);
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

  protected writeMessage(cmd: number, payload: Uint8Array): Promise<void> {
    return this.writeReports(fragmentHidMessage(this.cid, cmd, payload, this.maxSize));
  }

  protected writeCancel(): Promise<void> {
    return this.writeReports(fragmentHidMessage(this.cid, HID_CMD.CANCEL, new Uint8Array(0)));
  }

  protected decodeError(payload: Uint8Array): ProtocolError {
    return decodeHidError(payload).error;
  }

  private async writeReports(reports: Uint8Array[]): Promise<void> {
    for (const r of reports) {
      if (this.gone) throw this.gone;
      await this.port.write(r);
    }
  }

  protected onFrame(report: Uint8Array): void {
    if (report.length !== HID_REPORT_SIZE || !this.reassembler) return;
    const cid = ((report[0] << 24) | (report[1] << 16) | (report[2] << 8) | report[3]) >>> 0;
    // Only our channel (or the broadcast channel during INIT); other hosts' traffic is not ours.
    const ours = this.initFilter ? cid === HID_BROADCAST_CID : cid === this.cid;
    if (!ours) return;
    const res = this.reassembler.feed(report);
    if (res.kind === 'pending') return this.touch();
    if (res.kind === 'error') return this.fail(res.error);
    const m = res.message;
    if (this.initFilter) {
      if (this.initFilter(m)) this.current?.resolve(m);
      return;
    }
    this.settle(m);
  }
}
