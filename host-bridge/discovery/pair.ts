// Pairing a device the registry holds, over its current link: the short-code exchange itself is
// session/pairing.ts; here the registry's side of it — the device must be the one asked for, and
// its handle starts a fresh session on the new pin.
import { ProtocolError } from '../../protocol/errors.ts';
import type { DeviceSummary } from '../devices/types.ts';
import { pairDevice } from '../session/pairing.ts';
import type { PinStore } from '../session/pin-store.ts';
import type { SecureDeviceClient } from '../session/secure-client.ts';

export interface PairOptions {
  pins: PinStore;
  requestTimeoutMs: number;
  confirmTimeoutMs?: number;
  pollIntervalMs?: number;
}

export async function pairOverCurrentLink(id: string, client: SecureDeviceClient, confirm: (code: string) => Promise<boolean>, o: PairOptions): Promise<DeviceSummary> {
  const r = await pairDevice(client.currentTransport, (code) => confirm(code), {
    pinStore: o.pins,
    requestTimeoutMs: o.requestTimeoutMs,
    confirmTimeoutMs: o.confirmTimeoutMs,
    pollIntervalMs: o.pollIntervalMs,
  });
  if (r.info.deviceId !== id) throw new ProtocolError('IDENTITY_MISMATCH', `paired device reports id ${r.info.deviceId}, expected ${id}`);
  client.clearMismatch();
  client.dropSession();
  return client.refreshStatus();
}
