// BLE "virtual cable" (device side): a unix stream socket carrying the GATT operations the radio
// would (record format in link-io/ble-cable-record.ts). Each accepted connection is one BLE
// central connected to the peripheral: its own LinkConnection and BleEndpoint, fed exactly the
// fragments a control point write would deliver. Notifications flow only after the central
// subscribes (SUBSCRIBE_STATUS), as with a CCCD on air. A record the radio could never produce
// (unknown op, value over 512 bytes) drops the connection and is counted as rejected.

import type net from 'node:net';
import { ProtocolError } from '../../protocol/errors.ts';
import { BLE_MAX_FRAME, BLE_MIN_FRAME, encodeControlPointLength } from '../../protocol/framing/ble.ts';
import { BLE_CABLE_OP, BleCableRecordDecoder, encodeBleCableRecord } from '../../link-io/ble-cable-record.ts';
import { writeToSocket } from '../../link-io/socket-writer.ts';
import { DriverConnection, nextDriverTag } from './connection.ts';
import { BleEndpoint, type BleEndpointOptions } from './ble-endpoint.ts';
import { reportRejected } from './endpoint-exchange.ts';
import type { LinkDriver, MessageHandler, RejectedFrame } from './types.ts';
import { UnixSocketServer } from './unix-socket-server.ts';

export interface BleCableServerOptions {
  socketPath: string;
  /** Control point length the central reads (20..512); also the notification size on the cable. */
  frameLength: number;
  handler: MessageHandler;
  onRejectedFrame?: (info: RejectedFrame) => void;
  endpoint?: Pick<BleEndpointOptions, 'keepaliveMs' | 'reassemblyTimeoutMs' | 'maxMessageSize'>;
}

/** Closing it is the radio's link loss: each central sees its socket close (no DISCONNECT record). */
export class BleCableServer extends UnixSocketServer<BleEndpoint> implements LinkDriver {
  readonly link = 'ble-cable' as const;
  private readonly tag = nextDriverTag('ble-cable');
  private readonly opts: BleCableServerOptions;

  constructor(opts: BleCableServerOptions) {
    if (!Number.isInteger(opts.frameLength) || opts.frameLength < BLE_MIN_FRAME || opts.frameLength > BLE_MAX_FRAME) {
      throw new ProtocolError('INVALID_FIELD', `BLE frame length must be ${BLE_MIN_FRAME}..${BLE_MAX_FRAME}`, String(opts.frameLength));
    }
    super(opts.socketPath);
    this.opts = opts;
  }

  protected attach(sock: net.Socket, n: number): BleEndpoint {
    const conn = new DriverConnection(`${this.tag}:${n}`, 'ble-cable');
    let subscribed = false;
    const send = (op: Parameters<typeof encodeBleCableRecord>[0], value?: Uint8Array): Promise<void> =>
      writeToSocket(sock, encodeBleCableRecord(op, value));
    const ep = new BleEndpoint({
      ...this.opts.endpoint,
      link: 'ble-cable',
      conn,
      controlPointLength: this.opts.frameLength,
      notifyFrameLength: () => this.opts.frameLength,
      notify: async (f) => {
        if (subscribed) await send(BLE_CABLE_OP.NOTIFY_STATUS, f);
      },
      handler: this.opts.handler,
      onRejectedFrame: this.opts.onRejectedFrame,
    });
    const decoder = new BleCableRecordDecoder();
    sock.on('data', (chunk: Buffer) => {
      let records;
      try {
        records = decoder.push(chunk);
      } catch (e) {
        const err = e instanceof ProtocolError ? e : new ProtocolError('BAD_FRAME', String(e));
        reportRejected(this.opts.onRejectedFrame, { link: 'ble-cable', error: err, bytes: chunk.length });
        sock.destroy();
        return;
      }
      for (const r of records) {
        switch (r.op) {
          case BLE_CABLE_OP.WRITE_CONTROL_POINT:
            ep.write(r.value);
            break;
          case BLE_CABLE_OP.READ_CONTROL_POINT_LENGTH:
            send(BLE_CABLE_OP.CONTROL_POINT_LENGTH, encodeControlPointLength(this.opts.frameLength)).catch(() => undefined);
            break;
          case BLE_CABLE_OP.SUBSCRIBE_STATUS:
            subscribed = true;
            break;
          case BLE_CABLE_OP.DISCONNECT:
            sock.end();
            break;
          default:
            // NOTIFY / CONTROL_POINT_LENGTH go the other way: a central never sends them.
            reportRejected(this.opts.onRejectedFrame, {
              link: 'ble-cable',
              error: new ProtocolError('BAD_FRAME', 'BLE cable op not valid from a central'),
              bytes: r.value.length,
            });
        }
      }
    });
    return ep;
  }
}
