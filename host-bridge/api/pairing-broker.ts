// Turns the registry's callback-style pairing (`pair(id, confirm)`) into two HTTP calls:
// the first starts pairing and returns the code the device shows; the second ({confirm, code})
// accepts or refuses it. An unanswered pairing is refused after `ttlMs`.
import { scrubPans } from '../../contracts/pan-guard.ts';
import type { DeviceRegistry, DeviceSummary } from '../devices/types.ts';
import { ApiError } from './error-map.ts';
import { codeOf } from '../../errors/precheck-error.ts';

interface Pending {
  code: string;
  answer: (ok: boolean) => void;
  done: Promise<DeviceSummary>;
  timer: NodeJS.Timeout;
  expiresAt: number;
}

export type PairStep = { status: 'confirm'; code: string; expiresInS: number } | { status: 'paired'; device: DeviceSummary } | { status: 'rejected' };

export class PairingBroker {
  private readonly pending = new Map<string, Pending>();
  private readonly starting = new Set<string>();

  constructor(
    private readonly registry: DeviceRegistry | null,
    private readonly ttlMs = 120_000,
  ) {}

  async start(id: string): Promise<PairStep> {
    if (!this.registry || !this.registry.get(id)) throw new ApiError('DEVICE_NOT_FOUND', `no device with id "${scrubPans(id)}"`, 'id');
    if (this.pending.has(id) || this.starting.has(id)) throw new ApiError('PAIRING_IN_PROGRESS', `pairing with "${id}" is already waiting for confirmation`);
    this.starting.add(id);
    let gotCode!: (code: string) => void;
    const codeShown = new Promise<string>((r) => (gotCode = r));
    let answer!: (ok: boolean) => void;
    const done = this.registry.pair(id, (code) => {
      gotCode(code);
      return new Promise<boolean>((r) => (answer = r));
    });
    done.catch(() => undefined); // observed below or in confirm(); never an unhandled rejection
    try {
      const first = await Promise.race([codeShown.then((code) => ({ code })), done.then((device) => ({ device }))]);
      if ('device' in first) return { status: 'paired', device: first.device };
      const timer = setTimeout(() => this.settle(id, false), this.ttlMs);
      timer.unref();
      this.pending.set(id, { code: first.code, answer, done, timer, expiresAt: Date.now() + this.ttlMs });
      return { status: 'confirm', code: first.code, expiresInS: Math.round(this.ttlMs / 1000) };
    } finally {
      this.starting.delete(id);
    }
  }

  async confirm(id: string, accept: boolean, code?: string): Promise<PairStep> {
    const p = this.pending.get(id);
    if (!p) throw new ApiError('PAIRING_NOT_STARTED', `no pairing with "${id}" is waiting; start one with an empty body first`);
    const ok = accept && (code === undefined || code === p.code);
    this.settle(id, ok);
    try {
      const device = await p.done;
      return { status: 'paired', device };
    } catch (e) {
      if (codeOf(e) === 'PAIRING_REJECTED' || !ok) {
        if (accept && !ok) throw new ApiError('PAIRING_REJECTED', 'the code does not match the one the device shows; pairing refused');
        return { status: 'rejected' };
      }
      throw e;
    }
  }

  private settle(id: string, ok: boolean): void {
    const p = this.pending.get(id);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(id);
    p.answer(ok);
  }

  /** Refuse every waiting pairing (bridge shutdown). */
  close(): void {
    for (const id of [...this.pending.keys()]) this.settle(id, false);
  }
}
