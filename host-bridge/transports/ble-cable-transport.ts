// BLE over the emulator's "virtual cable" (host side). Connect, read the control point length
// (READ_CONTROL_POINT_LENGTH → CONTROL_POINT_LENGTH), subscribe to status notifications, then
// exchange fragments through the same BLE framing as the noble transport. The frame length is
// negotiated as on air: min(control point length, ATT MTU − 3), with `attMtu` standing in for
// the MTU exchange (default 247, the common Data Length Extension value → 244-byte fragments).

import { ProtocolError } from '../../protocol/errors.ts';
import { decodeControlPointLength, negotiateBleFrameLength } from '../../protocol/framing/ble.ts';
import { BLE_CABLE_OP, BleCableRecordDecoder, encodeBleCableRecord } from '../../link-io/ble-cable-record.ts';
import { writeToSocket } from '../../link-io/socket-writer.ts';
import { BleChannelTransport } from './ble-channel-transport.ts';
import { connectUnix } from './hid-cable-transport.ts';
import { PortEvents, type ReportPort } from './report-port.ts';

export interface BleCableTransportOptions {
  socketPath: string;
  attMtu?: number;
  connectTimeoutMs?: number;
  cancelDrainMs?: number;
  maxMessageSize?: number;
}

export const BleCableTransport = {
  async open(opts: BleCableTransportOptions): Promise<BleChannelTransport> {
    const timeoutMs = opts.connectTimeoutMs ?? 2000;
    const sock = await connectUnix(opts.socketPath, timeoutMs);
    const events = new PortEvents();
    const decoder = new BleCableRecordDecoder();
    let lengthAnswer: ((v: Uint8Array) => void) | null = null;
    sock.setNoDelay?.(true);
    sock.on('data', (chunk: Buffer) => {
      let records;
      try {
        records = decoder.push(chunk);
      } catch {
        sock.destroy(); // the peripheral spoke nonsense: drop the link
        return;
      }
      for (const r of records) {
        if (r.op === BLE_CABLE_OP.NOTIFY_STATUS) events.data(r.value);
        else if (r.op === BLE_CABLE_OP.CONTROL_POINT_LENGTH) lengthAnswer?.(r.value);
        else if (r.op === BLE_CABLE_OP.DISCONNECT) sock.destroy();
      }
    });
    sock.on('close', () => events.closed(new Error('BLE link lost (socket closed)')));
    sock.on('error', () => sock.destroy());
    const port: ReportPort = {
      write: (f) =>
        writeToSocket(sock, encodeBleCableRecord(BLE_CABLE_OP.WRITE_CONTROL_POINT, f)).catch(() => {
          throw new ProtocolError('DISCONNECTED', 'BLE link lost (socket closed)');
        }),
      onData: (cb) => events.onData(cb),
      onClose: (cb) => events.onClose(cb),
      close: async () => {
        if (!sock.destroyed) {
          await writeToSocket(sock, encodeBleCableRecord(BLE_CABLE_OP.DISCONNECT)).catch(() => undefined);
          sock.end();
          sock.destroy();
        }
      },
    };
    try {
      const value = await new Promise<Uint8Array>((resolve, reject) => {
        const t = setTimeout(() => reject(new ProtocolError('TIMEOUT', 'no control point length from the BLE peripheral')), timeoutMs);
        events.onClose(() => {
          clearTimeout(t);
          reject(new ProtocolError('DISCONNECTED', 'BLE link lost before the control point length was read'));
        });
        lengthAnswer = (v) => {
          clearTimeout(t);
          resolve(v);
        };
        void writeToSocket(sock, encodeBleCableRecord(BLE_CABLE_OP.READ_CONTROL_POINT_LENGTH)).catch(reject);
      });
      lengthAnswer = null;
      const cpl = decodeControlPointLength(value);
      await writeToSocket(sock, encodeBleCableRecord(BLE_CABLE_OP.SUBSCRIBE_STATUS));
      return new BleChannelTransport(port, {
        link: 'ble-cable',
        address: `ble-cable:${opts.socketPath}`,
        writeFrameLength: negotiateBleFrameLength(opts.attMtu ?? 247, cpl),
        notifyFrameLength: cpl,
        maxMessageSize: opts.maxMessageSize,
        cancelDrainMs: opts.cancelDrainMs,
      });
    } catch (e) {
      sock.destroy();
      throw e;
    }
  },
};
