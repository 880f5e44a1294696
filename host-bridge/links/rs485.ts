// RS485 buses (config devices.rs485.ports): open the port, scan its address range (Modbus
// function 0x04), attach every device that answers; addresses that stayed silent are probed again
// in the background with backoff (address-rescan.ts), so a device powered on later is found
// without a restart. A bus that is lost is reopened every reconnectMs.
import type { BridgeConfig } from '../config.ts';
import type { Rs485Bus } from '../transports/rs485-bus.ts';
import { AddressRescanner } from './address-rescan.ts';
import type { LinkContext, LinkProvider } from './provider.ts';

type Rs485Port = BridgeConfig['devices']['rs485']['ports'][number];

export const rs485: LinkProvider<Rs485Port, Rs485Bus, { path: string; baud: number }> = {
  kind: 'rs485',
  list: (config) => config.devices.rs485.ports,
  label: (p) => `${p.path}@${p.baud}`,
  async open({ path, baud }) {
    const { Rs485Bus } = await import('../transports/rs485-bus.ts');
    return Rs485Bus.open({ path, baud });
  },
  async listen(port, ctx) {
    let bus: Rs485Bus;
    try {
      bus = await rs485.open(port, ctx);
    } catch (e) {
      ctx.report('unavailable', e);
      ctx.later(() => rs485.listen(port, ctx));
      return;
    }
    if (!ctx.running()) {
      await bus.close().catch(() => undefined);
      return;
    }
    ctx.onStop(() => bus.close());
    ctx.report('connected');
    bus.on('disconnect', (err: unknown) => {
      ctx.report('absent', err);
      ctx.later(() => rs485.listen(port, ctx));
    });
    const range = port.addresses;
    let found: number[] = [];
    try {
      found = await bus.scan(range);
    } catch (e) {
      ctx.report('error', e);
      return;
    }
    const missing = new Set<number>();
    for (let a = range.from; a <= range.to; a++) missing.add(a);
    for (const a of found) if (await ctx.attach(bus.device(a))) missing.delete(a);
    if (missing.size > 0 && ctx.running() && !bus.disconnected) rescan(bus, [...missing], ctx);
  },
};

/** Probe the configured-but-missing addresses of one bus until each answers (or the bus goes). */
function rescan(bus: Rs485Bus, addresses: number[], ctx: LinkContext): void {
  if (ctx.rescan.minMs <= 0) return;
  const stop = (): void => {
    rescanner.stop();
    ctx.searching([]);
  };
  const rescanner = new AddressRescanner(
    addresses,
    async (a) => {
      if (!ctx.running() || bus.disconnected) {
        stop();
        return false;
      }
      // One register read, one try: a verification to another address waits for one ADU at most.
      const answered = await bus.scan([a], { allowanceMs: 100 });
      if (answered.length === 0 || !ctx.running()) return false;
      return ctx.attach(bus.device(a));
    },
    ctx.rescan,
    undefined,
    (a, foundNow) => {
      if (foundNow) ctx.log.info(`RS485 ${bus.path}: address ${a} answered the rescan`);
      ctx.searching(rescanner.missing());
      if (rescanner.missing().length === 0) stop();
    },
  );
  // A new bus (after a disconnect) gets a new scan and its own rescanner.
  bus.once('disconnect', stop);
  ctx.onStop(stop);
  ctx.searching(addresses);
  ctx.log.info(`RS485 ${bus.path}: rescanning ${addresses.length} silent address(es) in the background (${addresses.length <= 8 ? addresses.join(', ') : `${addresses[0]}..${addresses[addresses.length - 1]}`})`);
  rescanner.start();
}
