// Entry the bridge loads lazily (host-bridge/devices/types.ts, CreateDeviceRegistryOptions):
// opens the pin store in the bridge data dir and builds the registry from the config.
import type { CreateDeviceRegistryOptions } from '../devices/types.ts';
import { PinStore } from '../session/pin-store.ts';
import { DeviceRegistryImpl, type RegistryOptions } from './registry.ts';

export { DeviceRegistryImpl, type RegistryOptions, type SourceState, type RegistryLogger } from './registry.ts';

export function createDeviceRegistry(opts: CreateDeviceRegistryOptions & { registry?: RegistryOptions }): DeviceRegistryImpl {
  const pins = PinStore.open(opts.config.dataDir);
  const log = opts.logger;
  return new DeviceRegistryImpl(opts.config, pins, {
    ...opts.registry,
    logger: {
      info: (m) => log.info(m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
    },
    onSecurityEvent: opts.registry?.onSecurityEvent ?? ((l) => log.error(l)),
  });
}
