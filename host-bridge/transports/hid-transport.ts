// USB HID transport (host side) over node-hid's async API (hidraw on Linux): enumeration,
// opening with retries (udev applies permissions a moment after hotplug, so the first open
// often fails with EACCES), and hotplug through the `usb` package's attach/detach events with a
// debounced re-enumeration (polling as the fallback where the OS gives no hotplug events).
//
// node-hid is loaded lazily: its native binding needs libudev and libusb-1.0 (Debian package
// libusb-1.0-0). Without them every entry point fails with LinkUnavailableError('HID_UNAVAILABLE'),
// never a crash.

import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { ProtocolError } from '../../protocol/errors.ts';
import { HID_REPORT_SIZE } from '../../protocol/framing/hid.ts';
import { LinkUnavailableError, describeCause } from '../../link-io/link-errors.ts';
import { PRECHECK_HID_USAGE_PAGE, PRECHECK_USB_PID, PRECHECK_USB_VID } from '../../link-io/usb-ids.ts';
import { HidChannelTransport } from './hid-channel-transport.ts';
import { PortEvents, type ReportPort } from './report-port.ts';

export interface HidDeviceInfo {
  path: string;
  vendorId: number;
  productId: number;
  serialNumber?: string;
  product?: string;
  manufacturer?: string;
  usagePage?: number;
  interface: number;
}

export interface HidFilter {
  vid?: number;
  pid?: number;
  /** Keep only this usage page (Linux hidraw reports it); default 0xFF00, null = any. */
  usagePage?: number | null;
}

type NodeHid = typeof import('node-hid');
type HidAsyncDevice = Awaited<ReturnType<NodeHid['HIDAsync']['open']>>;

let nodeHid: Promise<NodeHid> | null = null;

/** Load node-hid and its native binding once; HID_UNAVAILABLE if the machine cannot. */
export async function loadNodeHid(): Promise<NodeHid> {
  nodeHid ??= (async () => {
    try {
      const mod = (await import('node-hid')) as NodeHid & { default?: NodeHid };
      const hid = mod.default ?? mod;
      // The binding loads on first use: probe it here so failures surface as one typed error.
      hid.getHidapiVersion();
      return hid;
    } catch (e) {
      nodeHid = null;
      throw new LinkUnavailableError('HID_UNAVAILABLE', `USB HID unavailable: ${describeCause(e)} (Debian: apt-get install libusb-1.0-0 libudev1)`, e);
    }
  })();
  return nodeHid;
}

/** HID interfaces matching the filter (default: the Precheck VID/PID, vendor usage page). */
export async function enumerateHid(filter: HidFilter = {}): Promise<HidDeviceInfo[]> {
  const hid = await loadNodeHid();
  const vid = filter.vid ?? PRECHECK_USB_VID;
  const pid = filter.pid ?? PRECHECK_USB_PID;
  const page = filter.usagePage === undefined ? PRECHECK_HID_USAGE_PAGE : filter.usagePage;
  let list: Awaited<ReturnType<NodeHid['devicesAsync']>>;
  try {
    list = await hid.devicesAsync(vid, pid);
  } catch (e) {
    throw new LinkUnavailableError('HID_UNAVAILABLE', `HID enumeration failed: ${describeCause(e)}`, e);
  }
  return list
    .filter((d) => d.path && (page === null || d.usagePage === undefined || d.usagePage === page))
    .map((d) => ({
      path: d.path!,
      vendorId: d.vendorId,
      productId: d.productId,
      serialNumber: d.serialNumber,
      product: d.product,
      manufacturer: d.manufacturer,
      usagePage: d.usagePage,
      interface: d.interface,
    }));
}

export interface HidTransportOptions {
  path: string;
  /** Open attempts (default 5) with exponential backoff from `openBackoffMs` (default 100). */
  openAttempts?: number;
  openBackoffMs?: number;
  initTimeoutMs?: number;
  cancelDrainMs?: number;
}

/** Open with retries: permissions and the hidraw node lag a hotplug event. */
async function openWithRetry(hid: NodeHid, path: string, attempts: number, backoffMs: number): Promise<HidAsyncDevice> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await hid.HIDAsync.open(path);
    } catch (e) {
      last = e;
      if (i < attempts - 1) await new Promise((r) => setTimeout(r, backoffMs * 2 ** i));
    }
  }
  throw new ProtocolError('DISCONNECTED', `cannot open HID device ${path}: ${describeCause(last)}`);
}

/** A node-hid device as a port of 64-byte reports. */
function hidReportPort(dev: HidAsyncDevice): ReportPort {
  const events = new PortEvents();
  dev.on('data', (buf: Buffer) => {
    // Devices without report IDs deliver the 64 bytes as they are.
    if (buf.length >= HID_REPORT_SIZE) events.data(new Uint8Array(buf.subarray(0, HID_REPORT_SIZE)));
  });
  dev.on('error', (err: Error) => {
    events.closed(err);
    void dev.close().catch(() => undefined);
  });
  return {
    async write(report) {
      if (report.length !== HID_REPORT_SIZE) throw new ProtocolError('BAD_FRAME', 'HID report must be 64 bytes');
      // hidapi wants the report ID first; 0 = the device uses no report IDs. 65 bytes go in,
      // 64 go on the bus.
      const out = Buffer.alloc(HID_REPORT_SIZE + 1);
      out.set(report, 1);
      try {
        await dev.write(out);
      } catch (e) {
        events.closed(e as Error);
        throw new ProtocolError('DISCONNECTED', `HID write failed: ${describeCause(e)}`);
      }
    },
    onData: (cb) => events.onData(cb),
    onClose: (cb) => events.onClose(cb),
    async close() {
      events.closed();
      await dev.close().catch(() => undefined);
    },
  };
}

export const HidTransport = {
  async open(opts: HidTransportOptions): Promise<HidChannelTransport> {
    const hid = await loadNodeHid();
    const dev = await openWithRetry(hid, opts.path, opts.openAttempts ?? 5, opts.openBackoffMs ?? 100);
    return HidChannelTransport.open(hidReportPort(dev), {
      link: 'usb',
      address: `hid:${opts.path}`,
      initTimeoutMs: opts.initTimeoutMs,
      cancelDrainMs: opts.cancelDrainMs,
    });
  },
};

export interface HidWatcherOptions extends HidFilter {
  /** Quiet time after the last USB event before re-enumerating (default 250 ms). */
  debounceMs?: number;
  /** Re-enumeration period when no hotplug events are available (default 2000 ms). */
  pollMs?: number;
}

/**
 * Emits 'attach' (HidDeviceInfo) and 'detach' (HidDeviceInfo) as matching HID interfaces come
 * and go, and 'error' (LinkUnavailableError) if enumeration fails. start() returns how changes
 * are detected: 'hotplug' (usb attach/detach events) or 'polling'.
 */
export class HidHotplugWatcher extends EventEmitter {
  private known = new Map<string, HidDeviceInfo>();
  private timer: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private stopHotplug: (() => void) | null = null;
  private stopped = false;

  constructor(private readonly opts: HidWatcherOptions = {}) {
    super();
  }

  async start(): Promise<'hotplug' | 'polling'> {
    await this.rescan();
    const onEvent = (): void => this.schedule();
    const usbStop = await startUsbHotplug(onEvent);
    if (usbStop) {
      this.stopHotplug = usbStop;
      return 'hotplug';
    }
    this.poller = setInterval(() => void this.rescan(), this.opts.pollMs ?? 2000);
    this.poller.unref();
    return 'polling';
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.poller);
    this.stopHotplug?.();
    this.stopHotplug = null;
  }

  devices(): HidDeviceInfo[] {
    return [...this.known.values()];
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.rescan(), this.opts.debounceMs ?? 250);
  }

  private async rescan(): Promise<void> {
    if (this.stopped) return;
    let now: HidDeviceInfo[];
    try {
      now = await enumerateHid(this.opts);
    } catch (e) {
      this.emit('error', e);
      return;
    }
    const seen = new Map(now.map((d) => [d.path, d]));
    for (const [path, d] of this.known) if (!seen.has(path)) this.emit('detach', d);
    for (const [path, d] of seen) if (!this.known.has(path)) this.emit('attach', d);
    this.known = seen;
  }
}

/**
 * Subscribe to USB attach/detach through the `usb` package. Returns an unsubscribe function, or
 * null where hotplug is unavailable. The package reports some failures by throwing from a timer
 * (an uncaught exception), so it is only used once a device listing has succeeded, and never on
 * a machine without /sys/bus/usb.
 */
async function startUsbHotplug(onEvent: () => void): Promise<(() => void) | null> {
  if (!fs.existsSync('/sys/bus/usb/devices')) return null;
  try {
    const usb = await import('usb');
    const web = new usb.WebUSB({ allowAllDevices: true });
    await web.getDevices();
    const listener = (): void => onEvent();
    web.addEventListener('connect', listener);
    web.addEventListener('disconnect', listener);
    return () => {
      web.removeEventListener('connect', listener);
      web.removeEventListener('disconnect', listener);
    };
  } catch {
    return null;
  }
}
