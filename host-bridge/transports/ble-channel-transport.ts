// BLE transport core (host side), after CTAP-over-BLE: request fragments are written to the
// control point, response fragments arrive as status notifications. One transaction at a time;
// KEEPALIVE extends the idle timeout; ERROR frames become ProtocolErrors; timeout/abort sends
// CANCEL and holds the next exchange until the device has answered the cancelled one (or
// `cancelDrainMs`). Used by BleTransport (noble) and BleCableTransport (unix socket).

import { ProtocolError } from '../../protocol/errors.ts';
import {
  BLE_CMD,
  BLE_DEFAULT_MAX_MESSAGE,
  BleReassembler,
  decodeBleError,
  fragmentBleMessage,
} from '../../protocol/framing/ble.ts';
import type { Exchange } from './exchange.ts';
import { FramedChannelTransport, type FramedAnswer } from './framed-channel-transport.ts';
import type { ReportPort } from './report-port.ts';

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

/** Events: 'disconnect' (ProtocolError), 'keepalive'. */
export class BleChannelTransport extends FramedChannelTransport<FramedAnswer> {
  readonly link: 'ble' | 'ble-cable';
  readonly maxMessageSize: number;
  readonly writeFrameLength: number;
  private readonly reassembler: BleReassembler;

  constructor(port: ReportPort, opts: BleChannelOptions) {
    super(port, { address: opts.address, name: 'BLE', cmd: BLE_CMD, cancelDrainMs: opts.cancelDrainMs });
    this.link = opts.link;
    this.writeFrameLength = opts.writeFrameLength;
    this.maxMessageSize = opts.maxMessageSize ?? BLE_DEFAULT_MAX_MESSAGE;
    this.reassembler = new BleReassembler(opts.notifyFrameLength, { maxMessageSize: this.maxMessageSize });
  }

  protected override resetReassembly(): void {
    this.reassembler.reset();
  }

  protected async writeMessage(cmd: number, payload: Uint8Array, ex: Exchange<FramedAnswer>): Promise<void> {
    for (const f of fragmentBleMessage(cmd, payload, this.writeFrameLength, this.maxMessageSize)) {
      if (ex.settled) break;
      await this.port.write(f);
    }
  }

  protected writeCancel(): Promise<void> {
    return this.port.write(fragmentBleMessage(BLE_CMD.CANCEL, new Uint8Array(0), this.writeFrameLength)[0]);
  }

  protected decodeError(payload: Uint8Array): ProtocolError {
    return decodeBleError(payload).error;
  }

  protected onFrame(f: Uint8Array): void {
    const res = this.reassembler.feed(f);
    if (res.kind === 'pending') return this.touch();
    if (res.kind === 'error') return this.fail(res.error);
    this.settle({ cmd: res.cmd, payload: res.payload });
  }
}
