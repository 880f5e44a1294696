// USB HID over the emulator's "virtual cable" (host side): a unix stream socket carrying exactly
// the 64-byte reports the USB bus would, back to back with no extra framing (see
// device/links/hid-cable-server.ts). Same HID code as the node-hid transport.

import net from 'node:net';
import { ProtocolError } from '../../protocol/errors.ts';
import { HID_REPORT_SIZE } from '../../protocol/framing/hid.ts';
import { FixedReportSplitter } from '../../link-io/fixed-report-splitter.ts';
import { writeToSocket } from '../../link-io/socket-writer.ts';
import { HidChannelTransport, type HidChannelOptions } from './hid-channel-transport.ts';
import { PortEvents, type ReportPort } from './report-port.ts';

export interface HidCableTransportOptions {
  socketPath: string;
  connectTimeoutMs?: number;
  initTimeoutMs?: number;
  cancelDrainMs?: number;
}

/** A connected unix stream socket as a port of 64-byte (or `size`-byte) reports. */
export async function connectReportSocket(socketPath: string, size: number, timeoutMs = 2000): Promise<ReportPort> {
  const sock = await connectUnix(socketPath, timeoutMs);
  const events = new PortEvents();
  const splitter = new FixedReportSplitter(size);
  sock.setNoDelay?.(true);
  sock.on('data', (chunk: Buffer) => {
    for (const r of splitter.push(chunk)) events.data(r);
  });
  sock.on('close', () => events.closed(new Error('cable unplugged (socket closed)')));
  sock.on('error', () => sock.destroy());
  return {
    write: (r) => {
      if (r.length !== size) return Promise.reject(new ProtocolError('BAD_FRAME', `report must be ${size} bytes`));
      return writeToSocket(sock, r).catch(() => {
        throw new ProtocolError('DISCONNECTED', 'cable unplugged (socket closed)');
      });
    },
    onData: (cb) => events.onData(cb),
    onClose: (cb) => events.onClose(cb),
    close: async () => {
      sock.destroy();
    },
  };
}

export function connectUnix(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const t = setTimeout(() => {
      sock.destroy();
      reject(new ProtocolError('TIMEOUT', `connecting to ${socketPath} timed out`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(t);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(t);
      reject(new ProtocolError('DISCONNECTED', `cannot connect to ${socketPath}: ${err.code ?? err.message}`));
    });
  });
}

export const HidCableTransport = {
  /** Connect to a HidCableServer and open a HID channel on it. */
  async open(opts: HidCableTransportOptions): Promise<HidChannelTransport> {
    const port = await connectReportSocket(opts.socketPath, HID_REPORT_SIZE, opts.connectTimeoutMs);
    const channelOpts: HidChannelOptions = {
      link: 'hid-cable',
      address: `hid-cable:${opts.socketPath}`,
      initTimeoutMs: opts.initTimeoutMs,
      cancelDrainMs: opts.cancelDrainMs,
    };
    return HidChannelTransport.open(port, channelOpts);
  },
};
