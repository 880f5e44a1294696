// In-process doubles for the bridge benchmarks: a verifier device that answers at once (the link
// and the device are measured elsewhere); the bridge's SingleDeviceRegistry holds it.
import { createHmac } from 'node:crypto';
import type { DeviceHandle, DeviceSummary, LocalVerifyRequest, LocalVerifyResult } from '../../host-bridge/devices/types.ts';

const KEY = Buffer.alloc(32, 9);

/** Answers every card at once with `decision` (escalate: every verify goes to the network). */
export class InstantDevice implements DeviceHandle {
  readonly id = 'bench-dev';
  constructor(private readonly decision: LocalVerifyResult['decision']) {}
  summary(): DeviceSummary {
    return { id: this.id, link: 'usb', address: 'bench', paired: true, healthy: true, firmwareVersion: 1, firmwareState: 'confirmed', datasetVersion: 1, datasetState: 'fresh', datasetCreatedAt: Math.floor(Date.now() / 1000), datasetExpiresAt: null, rulesVersion: null };
  }
  async verify(req: LocalVerifyRequest): Promise<LocalVerifyResult> {
    const token = createHmac('sha256', KEY).update(`precheck/token/v1:${req.pan}`).digest().subarray(0, 16).toString('hex');
    return { decision: this.decision, reason: 'bench', prompt: null, token, bin: req.pan.slice(0, 6), last4: req.pan.slice(-4), brand: 'visa', datasetVersion: 1, gateway: null };
  }
  async refreshStatus(): Promise<DeviceSummary> {
    return this.summary();
  }
  async close(): Promise<void> {}
}
