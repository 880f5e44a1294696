// The device's BLE transaction layer, after CTAP-over-BLE: request fragments arrive as control
// point writes, response fragments leave as status notifications; KEEPALIVE every ~100 ms while
// the handler works, CANCEL, ERROR frames, a reassembly timeout. One instance per BLE
// connection. The bleno peripheral and the cable server feed it the same fragments.
//
// CANCEL of the running request answers it with ERROR OTHER (as on HID; CTAP2 answers with
// KEEPALIVE_CANCEL): the host waits for that before its next request.

import { ProtocolError, asProtocolError } from '../../protocol/errors.ts';
import {
  BLE_CMD,
  BLE_DEFAULT_MAX_MESSAGE,
  BLE_ERR,
  BLE_KEEPALIVE,
  BleReassembler,
  codeToBleError,
  encodeBleError,
  encodeBleKeepalive,
  fragmentBleMessage,
  type BleErrorCode,
} from '../../protocol/framing/ble.ts';
import type { DriverConnection } from './connection.ts';
import { type EndpointOptions, type EndpointStats, InFlightRequest, OrderedFrameWriter, ReassemblyTimer, reportRejected, stopExchange } from './endpoint-exchange.ts';

export interface BleEndpointOptions extends EndpointOptions {
  link: 'ble' | 'ble-cable';
  conn: DriverConnection;
  /** Control point length: the largest request fragment accepted (20..512). */
  controlPointLength: number;
  /** Largest notification value, read at each send (ATT MTU − 3 on a radio; the frame length on the cable). */
  notifyFrameLength: () => number;
  notify: (fragment: Uint8Array) => Promise<void>;
}

export interface BleEndpointStats extends EndpointStats {
  fragments: number;
}

export class BleEndpoint {
  readonly stats: BleEndpointStats = { fragments: 0, messages: 0, rejected: 0, keepalives: 0, cancels: 0 };
  private readonly reassembler: BleReassembler;
  private readonly inFlight: InFlightRequest;
  private readonly reassemblyTimer: ReassemblyTimer;
  private readonly writer: OrderedFrameWriter;
  private closed = false;
  private readonly maxMessageSize: number;

  constructor(private readonly opts: BleEndpointOptions) {
    this.maxMessageSize = opts.maxMessageSize ?? BLE_DEFAULT_MAX_MESSAGE;
    this.reassembler = new BleReassembler(opts.controlPointLength, { maxMessageSize: this.maxMessageSize });
    this.inFlight = new InFlightRequest(opts.keepaliveMs ?? 100);
    this.reassemblyTimer = new ReassemblyTimer(opts.reassemblyTimeoutMs ?? 3000, () => this.onReassemblyTimeout());
    this.writer = new OrderedFrameWriter((f) => opts.notify(f));
  }

  /** A control point write. Never throws. */
  write(fragment: Uint8Array): void {
    if (this.closed) return;
    this.stats.fragments++;
    const res = this.reassembler.feed(fragment);
    if (!this.reassemblyTimer.settled(res)) return;
    if (res.kind === 'error') {
      this.reject(res.error, fragment.length);
      return this.sendError(res.bleError);
    }
    switch (res.cmd) {
      case BLE_CMD.PING:
        if (this.inFlight.active) return this.sendError(BLE_ERR.BUSY);
        return this.send(BLE_CMD.PING, res.payload);
      case BLE_CMD.CANCEL:
        if (!this.inFlight.active) return; // nothing to cancel
        this.stats.cancels++;
        this.inFlight.end(true);
        return this.sendError(BLE_ERR.OTHER);
      case BLE_CMD.MSG:
        return this.onMsg(res.payload);
      default:
        this.reject(new ProtocolError('UNSUPPORTED', 'BLE command not supported', `0x${res.cmd.toString(16)}`), fragment.length);
        return this.sendError(BLE_ERR.INVALID_CMD);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    stopExchange(this.writer, this.reassemblyTimer, this.inFlight);
    this.opts.conn.close();
  }

  private onMsg(payload: Uint8Array): void {
    if (this.inFlight.active) return this.sendError(BLE_ERR.BUSY);
    this.stats.messages++;
    this.inFlight.start(undefined, () => this.opts.handler(payload, this.opts.conn), {
      keepalive: () => {
        this.stats.keepalives++;
        this.send(BLE_CMD.KEEPALIVE, encodeBleKeepalive(BLE_KEEPALIVE.PROCESSING));
      },
      answer: (resp) => {
        if (!(resp instanceof Uint8Array)) return this.sendError(BLE_ERR.OTHER);
        this.send(BLE_CMD.MSG, resp);
      },
      fail: (e) => this.sendError(codeToBleError(asProtocolError(e).code)),
    });
  }

  private onReassemblyTimeout(): void {
    const p = this.reassembler.pending();
    this.reassembler.reset();
    if (p) {
      this.reject(new ProtocolError('TIMEOUT', 'BLE message incomplete: fragment late'), p.received);
      this.sendError(BLE_ERR.REQ_TIMEOUT);
    }
  }

  private reject(error: ProtocolError, bytes: number): void {
    this.stats.rejected++;
    reportRejected(this.opts.onRejectedFrame, { link: this.opts.link, error, bytes });
  }

  private sendError(code: BleErrorCode): void {
    this.send(BLE_CMD.ERROR, encodeBleError(code));
  }

  private send(cmd: number, payload: Uint8Array): void {
    let frames: Uint8Array[];
    try {
      frames = fragmentBleMessage(cmd, payload, this.opts.notifyFrameLength(), this.maxMessageSize);
    } catch (e) {
      if (cmd === BLE_CMD.ERROR) return;
      return this.sendError(codeToBleError(asProtocolError(e).code));
    }
    this.writer.queue(frames);
  }
}
