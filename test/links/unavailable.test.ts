// Link hardware this machine may lack (Bluetooth radio, HID library, USB gadget, serial port):
// every entry point fails with a typed LinkUnavailableError instead of crashing the process.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BlePeripheralDriver, loadBleno } from '../../device/links/ble-peripheral-driver.ts';
import { LinkUnavailableError, isLinkUnavailable } from '../../link-io/link-errors.ts';
import { HidGadgetDriver } from '../../device/links/hid-gadget-driver.ts';
import { Rs485SlaveDriver } from '../../device/links/rs485-slave-driver.ts';
import { BleTransport, loadNoble, scanBle } from '../../host-bridge/transports/ble-transport.ts';
import { HidHotplugWatcher, HidTransport, enumerateHid } from '../../host-bridge/transports/hid-transport.ts';
import { Rs485Bus } from '../../host-bridge/transports/rs485-bus.ts';

const hasBluetooth = fs.existsSync('/sys/class/bluetooth') && fs.readdirSync('/sys/class/bluetooth').length > 0;
const echo = async (m: Uint8Array): Promise<Uint8Array> => m;

async function typedError(p: Promise<unknown>): Promise<LinkUnavailableError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LinkUnavailableError);
  return e as LinkUnavailableError;
}

describe.skipIf(hasBluetooth)('without a Bluetooth adapter', () => {
  it('bleno loads as BLUETOOTH_UNAVAILABLE', async () => {
    const e = await typedError(loadBleno());
    expect(e.code).toBe('BLUETOOTH_UNAVAILABLE');
    expect(e.message).toMatch(/Bluetooth unavailable/);
  });

  it('BlePeripheralDriver.start() rejects with BLUETOOTH_UNAVAILABLE', async () => {
    const d = new BlePeripheralDriver({ handler: echo });
    expect((await typedError(d.start())).code).toBe('BLUETOOTH_UNAVAILABLE');
    await d.close();
  });

  it('noble, scanBle and BleTransport.open reject with BLUETOOTH_UNAVAILABLE', async () => {
    expect((await typedError(loadNoble())).code).toBe('BLUETOOTH_UNAVAILABLE');
    expect((await typedError(scanBle({ timeoutMs: 100 }))).code).toBe('BLUETOOTH_UNAVAILABLE');
    expect((await typedError(BleTransport.open({ id: 'aa:bb:cc:dd:ee:ff', reconnect: false }))).code).toBe('BLUETOOTH_UNAVAILABLE');
  });
});

describe('USB HID without devices', () => {
  it('enumerateHid gives an empty list, or HID_UNAVAILABLE where the HID library cannot load', async () => {
    const r = await enumerateHid().then(
      (list) => ({ list }),
      (err: unknown) => ({ err }),
    );
    if ('list' in r) expect(r.list).toEqual([]);
    else {
      expect(isLinkUnavailable(r.err, 'HID_UNAVAILABLE')).toBe(true);
      expect((r.err as Error).message).toMatch(/libusb|HID/);
    }
  });

  it('HidTransport.open of a missing device fails typed', async () => {
    const e = await HidTransport.open({ path: '/dev/hidraw-precheck-missing', openAttempts: 2, openBackoffMs: 1 }).then(
      () => undefined,
      (err: unknown) => err as { code?: string },
    );
    expect(['HID_UNAVAILABLE', 'DISCONNECTED']).toContain(e?.code);
  });

  it('the hotplug watcher reports HID problems as an error event, not a crash', async () => {
    const w = new HidHotplugWatcher({ pollMs: 60_000 });
    const errs: unknown[] = [];
    w.on('error', (e) => errs.push(e));
    try {
      const mode = await w.start();
      expect(['hotplug', 'polling']).toContain(mode);
      if (!fs.existsSync('/sys/bus/usb/devices')) expect(mode).toBe('polling');
      for (const e of errs) expect(isLinkUnavailable(e, 'HID_UNAVAILABLE')).toBe(true);
      expect(w.devices()).toEqual([]);
    } finally {
      w.stop();
    }
  });

  it('HidGadgetDriver on a missing /dev/hidgN says how to create it', async () => {
    const d = new HidGadgetDriver({ path: '/dev/hidg-precheck-missing', handler: echo });
    const e = await typedError(d.start());
    expect(e.code).toBe('HID_UNAVAILABLE');
    expect(e.message).toMatch(/create-hid-gadget\.sh/);
  });
});

describe('cable sockets that cannot be created', () => {
  it('HidCableServer and BleCableServer fail with SOCKET_UNAVAILABLE', async () => {
    const { HidCableServer } = await import('../../device/links/hid-cable-server.ts');
    const { BleCableServer } = await import('../../device/links/ble-cable-server.ts');
    const path = '/nonexistent-precheck-dir/cable.sock';
    expect((await typedError(new HidCableServer({ socketPath: path, handler: echo }).start())).code).toBe('SOCKET_UNAVAILABLE');
    expect((await typedError(new BleCableServer({ socketPath: path, frameLength: 244, handler: echo }).start())).code).toBe('SOCKET_UNAVAILABLE');
  });
});

describe('serial ports that do not exist', () => {
  it('Rs485Bus.open and Rs485SlaveDriver.start fail with SERIAL_UNAVAILABLE', async () => {
    expect((await typedError(Rs485Bus.open({ path: '/dev/ttyPRECHECK0', baud: 115200 }))).code).toBe('SERIAL_UNAVAILABLE');
    const d = new Rs485SlaveDriver({ path: '/dev/ttyPRECHECK0', baud: 115200, addresses: [1], handler: echo });
    expect((await typedError(d.start())).code).toBe('SERIAL_UNAVAILABLE');
    await d.close();
  });
});

