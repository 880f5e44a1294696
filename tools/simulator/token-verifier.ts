// An in-process stand-in for a verifier device whose dataset is empty, for `precheck simulate
// --self-contained --verifier token`. It does the one thing a provisioned device does that the
// network stage needs: turn the card number into the card token with the card key the network
// service provisions devices with (protocol/dataset/token.ts), and then it always escalates, so
// every decision is the network stage's. No link, no framing, no secure channel and no local
// dataset are exercised: this is the simulator's market model, not a device test. Without it a
// bridge with no device sends the network service no token, and the service cannot recognise a
// card it has seen before (no restricted list, no history, no known-good).
import { RULES_VERSION } from '../../rules/decide.ts';
import { cardToken, tokenHex } from '../../protocol/dataset/token.ts';
import type { DeviceHandle, DeviceSummary, LocalVerifyRequest, LocalVerifyResult } from '../../host-bridge/devices/types.ts';
import { SingleDeviceRegistry } from '../../host-bridge/devices/single-device-registry.ts';

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

/** The bridge's registry holding just the token-only verifier. */
export class TokenOnlyRegistry extends SingleDeviceRegistry {
  constructor(cardKey: Uint8Array) {
    super(new TokenOnlyVerifier(cardKey));
  }
}
