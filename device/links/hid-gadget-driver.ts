// USB HID link driver (device side): reads and writes 64-byte reports on a Linux HID gadget
// device (/dev/hidgN, created by device/usb-gadget/create-hid-gadget.sh through configfs) and
// feeds them to HidEndpoint, the same code the HID cable server uses.
//
// /dev/hidgN is a character device: one read returns one OUT report, one write sends one IN
// report. Node offers no readiness polling for arbitrary character devices, so reads run on the
// libuv thread pool (one outstanding read at a time). Reads are still cut into 64-byte reports
// with FixedReportSplitter, which also lets a pty stand in for the gadget in tests.
// Limitation: a read blocked in the kernel is not interrupted by close(); it returns with the
// next report or when the gadget is unbound, so close() does not wait for it.

import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { HID_REPORT_SIZE } from '../../protocol/framing/hid.ts';
import { FixedReportSplitter } from '../../link-io/fixed-report-splitter.ts';
import { LinkUnavailableError, describeCause } from '../../link-io/link-errors.ts';
import { nextDriverTag } from './connection.ts';
import { HidEndpoint, type HidEndpointOptions } from './hid-endpoint.ts';
import type { LinkDriver, MessageHandler, RejectedFrame } from './types.ts';

export interface HidGadgetDriverOptions {
  /** e.g. /dev/hidg0 */
  path: string;
  handler: MessageHandler;
  onRejectedFrame?: (info: RejectedFrame) => void;
  endpoint?: Partial<Omit<HidEndpointOptions, 'link' | 'idPrefix' | 'writeReport' | 'handler' | 'onRejectedFrame'>>;
}

/** Events: 'error' (the device failed: gadget unbound, EIO), 'close'. */
export class HidGadgetDriver extends EventEmitter implements LinkDriver {
  readonly link = 'usb' as const;
  private fh: fs.FileHandle | null = null;
  private endpoint: HidEndpoint | null = null;
  private closing = false;
  private writeChain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: HidGadgetDriverOptions) {
    super();
  }

  get stats(): HidEndpoint['stats'] | undefined {
    return this.endpoint?.stats;
  }

  async start(): Promise<void> {
    if (this.fh) return;
    try {
      this.fh = await fs.open(this.opts.path, 'r+');
    } catch (e) {
      throw new LinkUnavailableError(
        'HID_UNAVAILABLE',
        `cannot open HID gadget ${this.opts.path}: ${describeCause(e)} (create it with device/usb-gadget/create-hid-gadget.sh)`,
        e,
      );
    }
    const fh = this.fh;
    this.endpoint = new HidEndpoint({
      ...this.opts.endpoint,
      link: 'usb',
      idPrefix: `${nextDriverTag('usb')}:${this.opts.path}`,
      handler: this.opts.handler,
      onRejectedFrame: this.opts.onRejectedFrame,
      writeReport: (r) => this.write(fh, r),
    });
    void this.readLoop(fh, this.endpoint);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.endpoint?.close();
    const fh = this.fh;
    this.fh = null;
    // Not awaited: a read blocked in the kernel holds the handle until it returns.
    fh?.close().catch(() => undefined);
    this.emit('close');
  }

  private write(fh: fs.FileHandle, report: Uint8Array): Promise<void> {
    const job = this.writeChain.then(async () => {
      if (this.closing) return;
      await fh.write(report, 0, report.length);
    });
    this.writeChain = job.catch(() => undefined);
    return job;
  }

  private async readLoop(fh: fs.FileHandle, ep: HidEndpoint): Promise<void> {
    const splitter = new FixedReportSplitter(HID_REPORT_SIZE);
    const buf = Buffer.alloc(HID_REPORT_SIZE * 16);
    while (!this.closing) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, 0, buf.length, null));
      } catch (e) {
        if (!this.closing) {
          this.emit('error', new LinkUnavailableError('HID_UNAVAILABLE', `HID gadget read failed: ${describeCause(e)}`, e));
          await this.close();
        }
        return;
      }
      if (n === 0) {
        if (!this.closing) await this.close();
        return;
      }
      for (const r of splitter.push(buf.subarray(0, n))) ep.feed(r);
    }
  }
}
