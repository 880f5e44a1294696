// USB HID "virtual cable" (device side): a unix stream socket that carries exactly the 64-byte
// reports the USB bus would carry — each report is 64 bytes on the stream, back to back, no
// length prefix or other framing (report n occupies stream bytes [64n, 64n+64)). Host → device
// bytes are OUT reports, device → host bytes are IN reports. Each accepted connection is one
// host plugged into the device (its own HidEndpoint, so its own channel table); the reports go
// through the same HidEndpoint code as the /dev/hidgN gadget driver.

import type net from 'node:net';
import { HID_REPORT_SIZE } from '../../protocol/framing/hid.ts';
import { FixedReportSplitter } from '../../link-io/fixed-report-splitter.ts';
import { writeToSocket } from '../../link-io/socket-writer.ts';
import { nextDriverTag } from './connection.ts';
import { HidEndpoint, type HidEndpointOptions } from './hid-endpoint.ts';
import type { LinkDriver, MessageHandler, RejectedFrame } from './types.ts';
import { UnixSocketServer } from './unix-socket-server.ts';

export interface HidCableServerOptions {
  socketPath: string;
  handler: MessageHandler;
  onRejectedFrame?: (info: RejectedFrame) => void;
  /** Passed to each connection's HidEndpoint (keepaliveMs, maxChannels, ...). */
  endpoint?: Partial<Omit<HidEndpointOptions, 'link' | 'idPrefix' | 'writeReport' | 'handler' | 'onRejectedFrame'>>;
}

export class HidCableServer extends UnixSocketServer<HidEndpoint> implements LinkDriver {
  readonly link = 'hid-cable' as const;
  private readonly tag = nextDriverTag('hid-cable');

  constructor(private readonly opts: HidCableServerOptions) {
    super(opts.socketPath);
  }

  protected attach(sock: net.Socket, n: number): HidEndpoint {
    const splitter = new FixedReportSplitter(HID_REPORT_SIZE);
    const ep = new HidEndpoint({
      ...this.opts.endpoint,
      link: 'hid-cable',
      idPrefix: `${this.tag}:${n}`,
      handler: this.opts.handler,
      onRejectedFrame: this.opts.onRejectedFrame,
      writeReport: (r) => writeToSocket(sock, r),
    });
    sock.on('data', (chunk: Buffer) => {
      for (const r of splitter.push(chunk)) ep.feed(r);
    });
    return ep;
  }
}
