// The market simulator's verifier device: the real firmware (device/emulator: DeviceCore over its
// SQLite store + SessionDispatcher) behind the USB HID virtual cable, in this process so that it
// runs on the simulator's clock.
import { isProvisioned, provision } from '../../device/core/identity.ts';
import { startEmulator } from '../../device/emulator/emulate.ts';
import type { NowMs } from '../../runtime/clock.ts';

export interface SimDeviceOptions {
  dataDir: string;
  hidSocket: string;
  serverSigningPublicKey: Uint8Array;
  cardKey: Uint8Array;
  merchantCountry: string;
  /** Wall clock, ms (runtime/clock.ts). */
  now: NowMs;
}

export interface SimDevice {
  deviceId: string;
  close(): Promise<void>;
}

export async function startSimDevice(o: SimDeviceOptions): Promise<SimDevice> {
  if (!isProvisioned(o.dataDir)) provision(o.dataDir, { serverSigningPublicKey: o.serverSigningPublicKey, cardKey: o.cardKey });
  const emu = await startEmulator({
    dataDir: o.dataDir,
    hidSocket: o.hidSocket,
    // The simulated shop's one device: pairing is accepted on the device side, as `precheck up` does in emulation.
    autoConfirm: true,
    ask: async () => true,
    merchantCountry: o.merchantCountry,
    now: o.now,
    out: () => undefined,
  });
  return { deviceId: emu.devices[0].deviceId, close: () => emu.close() };
}
