// Real Bluetooth LE handhelds (config devices.ble.enabled): one scan of the radio at start, each
// verifier found opened on a self-reconnecting transport. No radio, no permission or no noble is
// the state "unavailable", never a crash.
import type { MessageTransport } from '../transports/types.ts';
import { describeError, type LinkProvider } from './provider.ts';

export const ble: LinkProvider<'radio', MessageTransport> = {
  kind: 'ble',
  list: (config) => (config.devices.ble.enabled ? ['radio'] : []),
  label: (radio) => radio,
  async open(id) {
    const { BleTransport } = await import('../transports/ble-transport.ts');
    return BleTransport.open({ id });
  },
  async listen(_radio, ctx) {
    try {
      const { scanBle } = await import('../transports/ble-transport.ts');
      const found = await scanBle({ timeoutMs: Math.max(ctx.timeoutMs, 3000) });
      ctx.report('connected');
      for (const p of found) {
        try {
          await ctx.attach(await ble.open(p.id, ctx));
        } catch (e) {
          ctx.log.warn(`BLE ${p.address || p.id}: ${describeError(e)}`);
        }
      }
    } catch (e) {
      ctx.report('unavailable', e);
    }
  },
};
