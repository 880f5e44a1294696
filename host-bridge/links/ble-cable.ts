// The BLE cable: the emulator's virtual BLE link over a unix socket (config
// devices.cables.bleSocket), one device per socket.
import type { SessionTransport } from '../session/exchange.ts';
import type { LinkProvider } from './provider.ts';
import { keepCableConnected } from './socket-cable.ts';

export const bleCable: LinkProvider<string, SessionTransport> = {
  kind: 'ble-cable',
  list: (config) => (config.devices.cables.bleSocket ? [config.devices.cables.bleSocket] : []),
  label: (socketPath) => socketPath,
  async open(socketPath, ctx) {
    const { BleCableTransport } = await import('../transports/ble-cable-transport.ts');
    return BleCableTransport.open({ socketPath, connectTimeoutMs: ctx.timeoutMs });
  },
  listen: (socketPath, ctx) => keepCableConnected(bleCable, socketPath, ctx),
};
