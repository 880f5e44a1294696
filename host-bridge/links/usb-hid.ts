// USB HID verifiers by VID/PID (config devices.usb), re-enumerated for hotplug; node-hid missing
// or no permission is the state "unavailable", never a crash.
import { describeError, type LinkProvider } from './provider.ts';
import type { HidChannelTransport } from '../transports/hid-channel-transport.ts';

export interface UsbTarget {
  vid: number;
  pid: number;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

export const usbHid: LinkProvider<UsbTarget, HidChannelTransport> = {
  kind: 'usb',
  list: (config) => (config.devices.usb ? [config.devices.usb] : []),
  label: (t) => `${hex4(t.vid)}:${hex4(t.pid)}`,
  async open(path) {
    const { HidTransport } = await import('../transports/hid-transport.ts');
    return HidTransport.open({ path });
  },
  async listen({ vid, pid }, ctx) {
    let mod: typeof import('../transports/hid-transport.ts');
    try {
      mod = await import('../transports/hid-transport.ts');
    } catch (e) {
      ctx.report('unavailable', e);
      return;
    }
    const watcher = new mod.HidHotplugWatcher({ vid, pid, pollMs: ctx.reconnectMs > 0 ? Math.max(ctx.reconnectMs, 500) : undefined });
    const open = new Set<string>();
    let unavailable = false;
    watcher.on('attach', (d: { path: string }) => {
      if (open.has(d.path) || !ctx.running()) return;
      open.add(d.path);
      void (async () => {
        try {
          const t = await usbHid.open(d.path, ctx);
          t.once('disconnect', () => open.delete(d.path));
          ctx.report('connected');
          if (!(await ctx.attach(t))) open.delete(d.path);
        } catch (e) {
          open.delete(d.path);
          ctx.log.warn(`USB HID ${d.path}: ${describeError(e)}`);
        }
      })();
    });
    watcher.on('error', (e: unknown) => {
      unavailable = true;
      ctx.report('unavailable', e);
    });
    ctx.onStop(async () => watcher.stop());
    try {
      const how = await watcher.start();
      if (!unavailable) ctx.report(watcher.devices().length ? 'connected' : 'absent');
      ctx.log.info(`USB ${usbHid.label({ vid, pid })}: watching by ${how}`);
    } catch (e) {
      ctx.report('unavailable', e);
    }
  },
};
