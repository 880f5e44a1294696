// The HID gadget driver's file-descriptor I/O, with a pty standing in for /dev/hidg0 (both are
// character devices read and written with plain read()/write()). The host end writes 64-byte
// reports to the other pty end through the host's HID channel code.

import { randomBytes } from 'node:crypto';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HidGadgetDriver } from '../../device/links/hid-gadget-driver.ts';
import { FixedReportSplitter } from '../../link-io/fixed-report-splitter.ts';
import { HidChannelTransport } from '../../host-bridge/transports/hid-channel-transport.ts';
import { PortEvents, type ReportPort } from '../../host-bridge/transports/report-port.ts';
import { HID_MAX_MESSAGE, HID_REPORT_SIZE } from '../../protocol/framing/hid.ts';
import { openPtyPair, type PtyPair } from '../../testkit/pty-pair.ts';
import { killAllTracked } from '../../testkit/process.ts';
import { onceEvent, withTimeout } from '../../testkit/wait.ts';
import type { LinkUnavailableError } from '../../link-io/link-errors.ts';

async function ptyReportPort(path: string): Promise<ReportPort> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  const events = new PortEvents();
  const splitter = new FixedReportSplitter(HID_REPORT_SIZE);
  port.on('data', (d: Buffer) => splitter.push(d).forEach((r) => events.data(r)));
  port.on('close', () => events.closed());
  port.on('error', () => undefined);
  return {
    write: (r) => new Promise((res, rej) => port.write(Buffer.from(r), (e) => (e ? rej(e) : res()))),
    onData: (cb) => events.onData(cb),
    onClose: (cb) => events.onClose(cb),
    close: () => new Promise((res) => (port.isOpen ? port.close(() => res()) : res())),
  };
}

describe('HidGadgetDriver over a pty standing in for /dev/hidg0', () => {
  let pty: PtyPair;
  let driver: HidGadgetDriver;
  let host: HidChannelTransport;

  beforeAll(async () => {
    pty = await openPtyPair();
    driver = new HidGadgetDriver({ path: pty.b, handler: async (m) => Uint8Array.from(m).reverse() });
    await driver.start();
    host = await HidChannelTransport.open(await ptyReportPort(pty.a), { link: 'usb', address: `hid:${pty.a}` });
  });

  afterAll(async () => {
    await host?.close();
    await driver?.close();
    await pty?.close();
    await killAllTracked();
  });

  it('serves INIT and MSG transactions through the character device', async () => {
    expect(host.info?.cid).toBeGreaterThan(0);
    for (const size of [0, 57, 1000, HID_MAX_MESSAGE]) {
      const msg = randomBytes(size);
      const answer = await host.request(msg);
      expect(Buffer.from(answer).equals(Buffer.from(msg).reverse()), `size ${size}`).toBe(true);
    }
    expect(driver.stats?.messages).toBe(4);
  });

  it('reports the device node going away (typed) and closes', async () => {
    const closed = new Promise<void>((r) => driver.once('close', r));
    const failed = onceEvent<[LinkUnavailableError]>(driver, 'error', 5000);
    await pty.close();
    expect((await failed)[0].code).toBe('HID_UNAVAILABLE');
    await withTimeout(closed, 5000, 'driver close');
  });
});
