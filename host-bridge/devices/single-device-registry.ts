// A registry of one device, already paired and open, for a bridge composed in-process: the
// market simulator's token-only verifier (tools/simulator), the bridge benchmarks and tests that
// hand the bridge one device client. Nothing to discover, pair or reconnect.
import { EventEmitter } from 'node:events';
import type { DeviceHandle, DeviceRegistry, DeviceSummary } from './types.ts';

export class SingleDeviceRegistry extends EventEmitter implements DeviceRegistry {
  constructor(private readonly device: DeviceHandle) {
    super();
  }

  list(): DeviceHandle[] {
    return [this.device];
  }

  get(id: string): DeviceHandle | undefined {
    return id === this.device.id ? this.device : undefined;
  }

  pick(): DeviceHandle | undefined {
    return this.device;
  }

  /** Already paired: answers with the device's summary. */
  async pair(): Promise<DeviceSummary> {
    return this.device.summary();
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
