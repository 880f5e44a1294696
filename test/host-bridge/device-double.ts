// In-memory DeviceHandle / DeviceRegistry test doubles whose behaviour each test scripts.
// Tokens are real HMAC-SHA-256 (first 16 bytes) of the PAN, like a device computes them.
import { RULES_VERSION } from '../../rules/decide.ts';
import { EventEmitter } from 'node:events';
import { createHmac } from 'node:crypto';
import type { DeviceHandle, DeviceRegistry, DeviceSummary, LocalVerifyRequest, LocalVerifyResult } from '../../host-bridge/devices/types.ts';
import { ProtocolError } from '../../protocol/errors.ts';

export const TEST_CARD_KEY = Buffer.alloc(32, 7);

export function testToken(pan: string): string {
  return createHmac('sha256', TEST_CARD_KEY).update(`precheck/token/v1:${pan}`).digest().subarray(0, 16).toString('hex');
}

export type Script = (req: LocalVerifyRequest, opts?: { deadline?: unknown; timeoutMs?: number }) => Partial<LocalVerifyResult> | Error | Promise<Partial<LocalVerifyResult> | Error>;

export class ScriptedDevice implements DeviceHandle {
  readonly calls: LocalVerifyRequest[] = [];
  status: DeviceSummary;
  script: Script;
  pairCode = '482916';

  constructor(
    readonly id: string,
    script: Script = () => ({ decision: 'approve', reason: 'known_good' }),
    status: Partial<DeviceSummary> = {},
  ) {
    this.script = script;
    this.status = {
      id,
      link: 'usb',
      address: `/dev/hidraw-${id}`,
      paired: true,
      healthy: true,
      firmwareVersion: 1,
      firmwareState: 'confirmed',
      datasetVersion: 42,
      datasetState: 'fresh',
      datasetCreatedAt: Math.floor(Date.now() / 1000) - 3600,
      datasetExpiresAt: Math.floor(Date.now() / 1000) + 86400,
      rulesVersion: RULES_VERSION,
      ...status,
    };
  }

  summary(): DeviceSummary {
    return { ...this.status };
  }

  async verify(req: LocalVerifyRequest, opts?: { deadline?: unknown; timeoutMs?: number }): Promise<LocalVerifyResult> {
    this.calls.push({ ...req });
    const out = await this.script(req, opts);
    if (out instanceof Error) throw out;
    return {
      decision: 'escalate',
      reason: 'unknown_card',
      prompt: null,
      token: testToken(req.pan),
      bin: req.pan.slice(0, 6),
      last4: req.pan.slice(-4),
      brand: null,
      datasetVersion: this.status.datasetVersion,
      gateway: null,
      ...out,
    };
  }

  async refreshStatus(): Promise<DeviceSummary> {
    return this.summary();
  }

  async close(): Promise<void> {}
}

export class FakeRegistry extends EventEmitter implements DeviceRegistry {
  started = false;
  constructor(readonly devices: ScriptedDevice[] = []) {
    super();
  }
  list(): DeviceHandle[] {
    return this.devices;
  }
  get(id: string): DeviceHandle | undefined {
    return this.devices.find((d) => d.id === id);
  }
  pick(): DeviceHandle | undefined {
    return this.devices.find((d) => d.status.healthy && d.status.paired);
  }
  async pair(id: string, confirm: (code: string) => Promise<boolean>): Promise<DeviceSummary> {
    const d = this.devices.find((x) => x.id === id);
    if (!d) throw new ProtocolError('DISCONNECTED', `no device ${id}`);
    const ok = await confirm(d.pairCode);
    if (!ok) throw new ProtocolError('PAIRING_REJECTED', 'pairing rejected');
    d.status.paired = true;
    return d.summary();
  }
  async start(): Promise<void> {
    this.started = true;
  }
  async stop(): Promise<void> {
    this.started = false;
  }
}
