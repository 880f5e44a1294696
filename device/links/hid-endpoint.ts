// The device's USB HID transaction layer, after CTAPHID: channel allocation (INIT on the
// broadcast channel), one transaction at a time, KEEPALIVE every ~100 ms while the handler
// works, CANCEL, ERROR packets, and a reassembly timeout. It sees 64-byte reports only, so the
// USB gadget driver (/dev/hidgN) and the cable server (unix socket) feed it the same way: the
// same bytes take the same code path.
//
// Decisions:
// - Only allocated channels (and INIT on the broadcast channel) are served; a report on an
//   unknown channel gets ERROR INVALID_CHANNEL on that channel and is counted as rejected. This
//   keeps a garbage report from starting a phantom message that would block real ones.
// - CANCEL of the running transaction answers it with ERROR OTHER (CTAPHID has no error code for
//   "cancelled"; CTAP2 answers the pending request with KEEPALIVE_CANCEL): the host waits for
//   that answer before its next request, so a late answer can never be taken for a new one.
// - Channels are evicted least-recently-used past `maxChannels`; their connection closes.

import { randomBytes } from 'node:crypto';
import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import {
  HID_BROADCAST_CID,
  HID_CAPABILITY,
  HID_CMD,
  HID_ERR,
  HID_KEEPALIVE,
  HID_MAX_MESSAGE,
  HID_PROTOCOL_VERSION,
  HID_REPORT_SIZE,
  HID_RESERVED_CID,
  HidReassembler,
  codeToHidError,
  decodeHidInitRequest,
  encodeHidInitResponse,
  encodeHidKeepalive,
  fragmentHidMessage,
  hidErrorReport,
  type HidErrorCode,
  type HidMessage,
} from '../../protocol/framing/hid.ts';
import { DriverConnection } from './connection.ts';
import { type EndpointOptions, type EndpointStats, InFlightRequest, OrderedFrameWriter, ReassemblyTimer, reportRejected, stopExchange } from './endpoint-exchange.ts';

export interface HidEndpointOptions extends EndpointOptions {
  link: 'usb' | 'hid-cable';
  /** Prefix of connection ids ("usb#2:/dev/hidg0"). */
  idPrefix: string;
  /** Send one 64-byte report to the host. Reports of one message are written in order. */
  writeReport: (report: Uint8Array) => Promise<void>;
  maxChannels?: number;
  firmwareVersion?: { major: number; minor: number; build: number };
}

interface Channel {
  cid: number;
  conn: DriverConnection;
  lastUsed: number;
}

export interface HidEndpointStats extends EndpointStats {
  reports: number;
}

export class HidEndpoint {
  readonly stats: HidEndpointStats = { reports: 0, messages: 0, rejected: 0, keepalives: 0, cancels: 0 };
  private readonly channels = new Map<number, Channel>();
  private readonly reassembler: HidReassembler;
  /** Keyed by the channel whose transaction is running. */
  private readonly inFlight: InFlightRequest<number>;
  private readonly reassemblyTimer: ReassemblyTimer;
  private readonly writer: OrderedFrameWriter;
  private closed = false;
  private useCounter = 0;
  private readonly maxChannels: number;
  private readonly maxMessageSize: number;

  constructor(private readonly opts: HidEndpointOptions) {
    this.maxChannels = opts.maxChannels ?? 16;
    this.maxMessageSize = Math.min(opts.maxMessageSize ?? HID_MAX_MESSAGE, HID_MAX_MESSAGE);
    this.reassembler = new HidReassembler({ maxMessageSize: this.maxMessageSize });
    this.inFlight = new InFlightRequest<number>(opts.keepaliveMs ?? 100);
    this.reassemblyTimer = new ReassemblyTimer(opts.reassemblyTimeoutMs ?? 3000, () => this.onReassemblyTimeout());
    this.writer = new OrderedFrameWriter((r) => opts.writeReport(r));
  }

  /** Feed one report from the host. Never throws. */
  feed(report: Uint8Array): void {
    if (this.closed) return;
    this.stats.reports++;
    if (report.length !== HID_REPORT_SIZE) {
      this.reject(new ProtocolError('BAD_FRAME', `HID report must be ${HID_REPORT_SIZE} bytes`), report.length);
      return;
    }
    const cid = ((report[0] << 24) | (report[1] << 16) | (report[2] << 8) | report[3]) >>> 0;
    if (cid !== HID_BROADCAST_CID && cid !== HID_RESERVED_CID && !this.channels.has(cid)) {
      this.reject(new ProtocolError('BAD_CHANNEL', 'HID report on an unallocated channel'), report.length);
      this.sendError(cid, HID_ERR.INVALID_CHANNEL);
      return;
    }
    const res = this.reassembler.feed(report);
    if (!this.reassemblyTimer.settled(res)) return;
    if (res.kind === 'error') {
      this.reject(res.error, report.length);
      if (res.cid !== HID_RESERVED_CID) this.sendError(res.cid, res.hidError);
      return;
    }
    this.touch(res.message.cid);
    this.dispatch(res.message);
  }

  /** End every channel (their connections close) and stop timers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    stopExchange(this.writer, this.reassemblyTimer, this.inFlight);
    for (const ch of this.channels.values()) ch.conn.close();
    this.channels.clear();
  }

  get channelCount(): number {
    return this.channels.size;
  }

  private dispatch(m: HidMessage): void {
    switch (m.cmd) {
      case HID_CMD.INIT:
        return this.onInit(m);
      case HID_CMD.PING:
        if (this.inFlight.active) return this.sendError(m.cid, HID_ERR.CHANNEL_BUSY);
        return this.send(m.cid, HID_CMD.PING, m.payload);
      case HID_CMD.CANCEL:
        return this.onCancel(m.cid);
      case HID_CMD.MSG:
        return this.onMsg(m);
      default:
        this.reject(new ProtocolError('UNSUPPORTED', 'HID command not supported', `0x${m.cmd.toString(16)}`), HID_REPORT_SIZE);
        return this.sendError(m.cid, HID_ERR.INVALID_CMD);
    }
  }

  private onInit(m: HidMessage): void {
    let nonce: Uint8Array;
    try {
      nonce = decodeHidInitRequest(m.payload);
    } catch (e) {
      this.reject(asProtocolError(e, 'BAD_FRAME'), HID_REPORT_SIZE);
      return this.sendError(m.cid, HID_ERR.INVALID_LEN);
    }
    let cid = m.cid;
    if (cid === HID_BROADCAST_CID) {
      cid = this.allocate();
    } else if (this.inFlight.key === cid) {
      // INIT on a busy channel resynchronises it: the transaction is abandoned.
      this.inFlight.end(true);
    }
    const v = this.opts.firmwareVersion ?? { major: 0, minor: 1, build: 0 };
    const payload = encodeHidInitResponse({
      nonce,
      cid,
      protocolVersion: HID_PROTOCOL_VERSION,
      versionMajor: v.major & 0xff,
      versionMinor: v.minor & 0xff,
      versionBuild: v.build & 0xff,
      capabilities: HID_CAPABILITY.CBOR,
      maxMessageSize: this.maxMessageSize,
    });
    this.send(m.cid, HID_CMD.INIT, payload);
  }

  private onCancel(cid: number): void {
    if (!this.inFlight.active || this.inFlight.key !== cid) return; // nothing to cancel: ignored, as in CTAPHID
    this.stats.cancels++;
    this.inFlight.end(true);
    this.sendError(cid, HID_ERR.OTHER);
  }

  private onMsg(m: HidMessage): void {
    if (this.inFlight.active) return this.sendError(m.cid, HID_ERR.CHANNEL_BUSY);
    const ch = this.channels.get(m.cid);
    if (!ch) return this.sendError(m.cid, HID_ERR.INVALID_CHANNEL);
    this.stats.messages++;
    this.inFlight.start(m.cid, () => this.opts.handler(m.payload, ch.conn), {
      keepalive: () => {
        this.stats.keepalives++;
        this.send(m.cid, HID_CMD.KEEPALIVE, encodeHidKeepalive(HID_KEEPALIVE.PROCESSING));
      },
      answer: (resp) => {
        if (!(resp instanceof Uint8Array) || resp.length > this.maxMessageSize) {
          return this.sendError(m.cid, resp instanceof Uint8Array ? HID_ERR.INVALID_LEN : HID_ERR.OTHER);
        }
        this.send(m.cid, HID_CMD.MSG, resp);
      },
      fail: (e) => this.sendError(m.cid, codeToHidError(asProtocolError(e).code)),
    });
  }

  private allocate(): number {
    if (this.channels.size >= this.maxChannels) {
      let lru: Channel | undefined;
      for (const ch of this.channels.values()) {
        if (ch.cid === this.inFlight.key) continue;
        if (!lru || ch.lastUsed < lru.lastUsed) lru = ch;
      }
      if (lru) {
        this.channels.delete(lru.cid);
        lru.conn.close();
      }
    }
    let cid: number;
    do {
      cid = randomBytes(4).readUInt32BE(0);
    } while (cid === HID_RESERVED_CID || cid === HID_BROADCAST_CID || this.channels.has(cid));
    const conn = new DriverConnection(`${this.opts.idPrefix}:cid=${cid.toString(16).padStart(8, '0')}`, this.opts.link);
    this.channels.set(cid, { cid, conn, lastUsed: ++this.useCounter });
    return cid;
  }

  private touch(cid: number): void {
    const ch = this.channels.get(cid);
    if (ch) ch.lastUsed = ++this.useCounter;
  }

  private onReassemblyTimeout(): void {
    const p = this.reassembler.pending();
    this.reassembler.reset();
    if (p) {
      this.reject(new ProtocolError('TIMEOUT', 'HID message incomplete: continuation packet late'), p.received);
      this.sendError(p.cid, HID_ERR.MSG_TIMEOUT);
    }
  }

  private reject(error: ProtocolError, bytes: number): void {
    this.stats.rejected++;
    reportRejected(this.opts.onRejectedFrame, { link: this.opts.link, error, bytes });
  }

  private sendError(cid: number, hidError: HidErrorCode): void {
    this.writer.queue([hidErrorReport(cid, hidError)]);
  }

  private send(cid: number, cmd: number, payload: Uint8Array): void {
    let reports: Uint8Array[];
    try {
      reports = fragmentHidMessage(cid, cmd, payload, this.maxMessageSize);
    } catch (e) {
      return this.sendError(cid, codeToHidError(asProtocolError(e).code));
    }
    this.writer.queue(reports);
  }
}
