// An in-process stand-in for a verifier device whose dataset is empty, for `precheck simulate
// --self-contained --verifier token`. It does the one thing a provisioned device does that the
// network stage needs: turn the card number into the card token with the card key the network
// service provisions devices with (protocol/dataset/token.ts), and then it always escalates, so
// every decision is the network stage's. No link, no framing, no secure channel and no local
// dataset are exercised: this is the simulator's market model, not a device test. Without it a
// bridge with no device sends the network service no token, and the service cannot recognise a
// card it has seen before (no restricted list, no history, no known-good).
import { RULES_VERSION } from '../../rules/decide.ts';
import { EventEmitter } from 'node:events';
import { cardToken, tokenHex } from '../../protocol/dataset/token.ts';
import type { DeviceHandle, DeviceRegistry, DeviceSummary, LocalVerifyRequest, LocalVerifyResult } from '../../host-bridge/devices/types.ts';

export class TokenOnlyVerifier implements DeviceHandle {
  readonly id = 'sim-token-verifier';
  private readonly key: Uint8Array;

  constructor(cardKey: Uint8Array) {
    this.key = new Uint8Array(cardKey);
  }

  summary(): DeviceSummary {
    return {
      id: this.id,
      link: 'usb',
      address: 'in-process',
      paired: true,
      healthy: true,
      firmwareVersion: 0,
      firmwareState: 'confirmed',
      datasetVersion: 0,
      datasetState: 'none',
      datasetCreatedAt: null,
      datasetExpiresAt: null,
      rulesVersion: RULES_VERSION,
    };
  }

  async verify(req: LocalVerifyRequest): Promise<LocalVerifyResult> {
    const digits = req.pan.replace(/[\s-]/g, '');
    return {
      decision: 'escalate',
      reason: 'no_data',
      prompt: null,
      token: tokenHex(cardToken(this.key, digits)),
      bin: digits.slice(0, 6),
      last4: digits.slice(-4),
      brand: null,
      datasetVersion: 0,
      gateway: null,
    };
  }

  async refreshStatus(): Promise<DeviceSummary> {
    return this.summary();
  }

  async close(): Promise<void> {}
}

export class TokenOnlyRegistry extends EventEmitter implements DeviceRegistry {
  private readonly device: TokenOnlyVerifier;

  constructor(cardKey: Uint8Array) {
    super();
    this.device = new TokenOnlyVerifier(cardKey);
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

  async pair(): Promise<DeviceSummary> {
    return this.device.summary();
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
