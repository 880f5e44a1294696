// The device's HID and BLE endpoints drop a message whose next fragment is late: the shared
// reassembly timer (endpoint-exchange.ts) runs while a message is incomplete, and on expiry the
// endpoint reports the rejected frame and answers the link's timeout error.
import { describe, expect, it } from 'vitest';
import { HidEndpoint } from '../../../device/links/hid-endpoint.ts';
import { BleEndpoint } from '../../../device/links/ble-endpoint.ts';
import { DriverConnection } from '../../../device/links/connection.ts';
import type { RejectedFrame } from '../../../device/links/types.ts';
import { HID_BROADCAST_CID, HID_CMD, HID_ERR, fragmentHidMessage, hidErrorReport } from '../../../protocol/framing/hid.ts';
import { BLE_CMD, BLE_ERR, encodeBleError, fragmentBleMessage } from '../../../protocol/framing/ble.ts';
import { deferred, withTimeout } from '../../../testkit/wait.ts';

const handler = async (): Promise<Uint8Array> => new Uint8Array(0);

describe('reassembly timeout on the device endpoints', () => {
  it('HID: the first packet of a longer message, then nothing → rejected frame and ERROR MSG_TIMEOUT', async () => {
    const sent = deferred<Uint8Array>();
    const rejected: RejectedFrame[] = [];
    const ep = new HidEndpoint({ link: 'hid-cable', idPrefix: 't', writeReport: async (r) => sent.resolve(r), handler, onRejectedFrame: (f) => rejected.push(f), reassemblyTimeoutMs: 20 });
    try {
      const reports = fragmentHidMessage(HID_BROADCAST_CID, HID_CMD.INIT, new Uint8Array(100));
      expect(reports.length).toBeGreaterThan(1);
      ep.feed(reports[0]);
      expect(Buffer.from(await withTimeout(sent.promise, 10_000, 'the timeout error report'))).toEqual(Buffer.from(hidErrorReport(HID_BROADCAST_CID, HID_ERR.MSG_TIMEOUT)));
      expect(rejected).toMatchObject([{ link: 'hid-cable', error: { code: 'TIMEOUT' } }]);
    } finally {
      ep.close();
    }
  });

  it('BLE: the first fragment of a longer message, then nothing → rejected frame and ERROR REQ_TIMEOUT', async () => {
    const sent = deferred<Uint8Array>();
    const rejected: RejectedFrame[] = [];
    const ep = new BleEndpoint({
      link: 'ble-cable',
      conn: new DriverConnection('t', 'ble-cable'),
      controlPointLength: 20,
      notifyFrameLength: () => 20,
      notify: async (f) => sent.resolve(f),
      handler,
      onRejectedFrame: (f) => rejected.push(f),
      reassemblyTimeoutMs: 20,
    });
    try {
      const fragments = fragmentBleMessage(BLE_CMD.MSG, new Uint8Array(100), 20);
      expect(fragments.length).toBeGreaterThan(1);
      ep.write(fragments[0]);
      expect(Buffer.from(await withTimeout(sent.promise, 10_000, 'the timeout error frame'))).toEqual(Buffer.from(fragmentBleMessage(BLE_CMD.ERROR, encodeBleError(BLE_ERR.REQ_TIMEOUT), 20)[0]));
      expect(rejected).toMatchObject([{ link: 'ble-cable', error: { code: 'TIMEOUT' } }]);
    } finally {
      ep.close();
    }
  });
});
