// USB HID "virtual cable" (device side): a unix stream socket that carries exactly the 64-byte
// reports the USB bus would carry — each report is 64 bytes on the stream, back to back, no
// length prefix or other framing (report n occupies stream bytes [64n, 64n+64)). Host → device
// bytes are OUT reports, device → host bytes are IN reports. Each accepted connection is one
// host plugged into the device (its own HidEndpoint, so its own channel table); the reports go
// through the same HidEndpoint code as the /dev/hidgN gadget driver.

import net from 'node:net';
import { HID_REPORT_SIZE } from '../../protocol/framing/hid.ts';
import { FixedReportSplitter } from '../../protocol/link-io/fixed-report-splitter.ts';
import { LinkUnavailableError, describeCause } from '../../protocol/link-io/link-errors.ts';
import { removeStaleSocket, writeToSocket } from '../../protocol/link-io/socket-writer.ts';
import { nextDriverTag } from './connection.ts';
import { HidEndpoint, type HidEndpointOptions } from './hid-endpoint.ts';
import type { LinkDriver, MessageHandler, RejectedFrame } from './types.ts';

export interface HidCableServerOptions {
  socketPath: string;
  handler: MessageHandler;
  onRejectedFrame?: (info: RejectedFrame) => void;
  /** Passed to each connection's HidEndpoint (keepaliveMs, maxChannels, ...). */
  endpoint?: Partial<Omit<HidEndpointOptions, 'link' | 'idPrefix' | 'writeReport' | 'handler' | 'onRejectedFrame'>>;
}

export class HidCableServer implements LinkDriver {
  readonly link = 'hid-cable' as const;
  private server: net.Server | null = null;
  private readonly clients = new Map<net.Socket, HidEndpoint>();
  private readonly tag = nextDriverTag('hid-cable');
  private clientCount = 0;

  constructor(private readonly opts: HidCableServerOptions) {}

  get socketPath(): string {
    return this.opts.socketPath;
  }

  /** Connected hosts. */
  get connections(): number {
    return this.clients.size;
  }

  async start(): Promise<void> {
    if (this.server) return;
    await removeStaleSocket(this.opts.socketPath);
    const server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      const fail = (e: Error): void =>
        reject(new LinkUnavailableError('SOCKET_UNAVAILABLE', `cannot listen on ${this.opts.socketPath}: ${describeCause(e)}`, e));
      server.once('error', fail);
      server.listen(this.opts.socketPath, () => {
        server.off('error', fail);
        resolve();
      });
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const [sock, ep] of this.clients) {
      ep.close();
      sock.destroy();
    }
    this.clients.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(sock: net.Socket): void {
    const n = ++this.clientCount;
    const splitter = new FixedReportSplitter(HID_REPORT_SIZE);
    const ep = new HidEndpoint({
      ...this.opts.endpoint,
      link: 'hid-cable',
      idPrefix: `${this.tag}:${n}`,
      handler: this.opts.handler,
      onRejectedFrame: this.opts.onRejectedFrame,
      writeReport: (r) => writeToSocket(sock, r),
    });
    this.clients.set(sock, ep);
    sock.setNoDelay?.(true);
    sock.on('data', (chunk: Buffer) => {
      for (const r of splitter.push(chunk)) ep.feed(r);
    });
    const end = (): void => {
      ep.close();
      this.clients.delete(sock);
    };
    sock.on('close', end);
    sock.on('error', () => sock.destroy());
  }
}
