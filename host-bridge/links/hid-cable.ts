// The HID cable: the emulator's virtual USB HID link over a unix socket (config
// devices.cables.hidSocket), one device per socket.
import type { SessionTransport } from '../session/exchange.ts';
import type { LinkProvider } from './provider.ts';
import { keepCableConnected } from './socket-cable.ts';

export const hidCable: LinkProvider<string, SessionTransport> = {
  kind: 'hid-cable',
  list: (config) => (config.devices.cables.hidSocket ? [config.devices.cables.hidSocket] : []),
  label: (socketPath) => socketPath,
  async open(socketPath, ctx) {
    const { HidCableTransport } = await import('../transports/hid-cable-transport.ts');
    return HidCableTransport.open({ socketPath, connectTimeoutMs: ctx.timeoutMs });
  },
  listen: (socketPath, ctx) => keepCableConnected(hidCable, socketPath, ctx),
};
