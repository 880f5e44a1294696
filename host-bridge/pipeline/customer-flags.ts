// Customers the bridge has seen with fraud evidence lately, so a device's floor-limit approval
// (rules/decide.ts floor_limit: an unknown card below its segment's floor) does not let through
// a customer the network would refuse. The device knows cards, not customers; the network's
// trust evaluation knows both (fraud on the account or the device: server/trust/policy.ts
// fraudEvidence). The bridge sees every verification's customer context and every outcome it
// forwards, so it flags a customer's account, device and IP when
//   - an outcome of one of their orders is fraud evidence (rules/response-codes.ts
//     classifyOutcome: fraud type, 07/41/43/59), or
//   - the network answered one of their verifications with `fraud_signal`,
// and sends a flagged customer's floor-limit approvals to the network instead (it answers with its
// customer context). Only floor-limit approvals: a known-good card stays local.
// In memory, bounded (MAX_ENTRIES each, oldest forgotten first), identifiers kept as SHA-256
// prefixes; a restart forgets them, which costs only this shortcut — the network still decides.
import crypto from 'node:crypto';
import { classifyOutcome, type ClassifiableOutcome } from '../../rules/response-codes.ts';

export interface CustomerContext {
  accountId?: string;
  deviceId?: string;
  ip?: string;
}

/** How long a flag holds (the network's device/account fraud evidence lasts at least this long). */
export const FLAG_SECONDS = 7 * 86_400;
/** Orders remembered with their customer (to flag on a later outcome): as long as a checkout lasts. */
export const ORDER_SECONDS = 6 * 3600;
export const MAX_ENTRIES = 100_000;

export class CustomerFlags {
  private readonly orders = new Map<string, { keys: string[]; at: number }>();
  private readonly flags = new Map<string, number>();

  /** Remembers which customer an order belongs to (at its verification). */
  noteOrder(orderId: string, customer: CustomerContext | undefined, now: number): void {
    const keys = keysOf(customer);
    if (keys.length === 0) return;
    this.orders.delete(orderId);
    this.orders.set(orderId, { keys, at: now });
    trim(this.orders, (v) => now - v.at > ORDER_SECONDS);
  }

  /** An outcome forwarded for `orderId`: fraud evidence flags the order's customer. */
  observeOutcome(orderId: string, outcome: ClassifiableOutcome, now: number): boolean {
    if (!classifyOutcome(outcome).fraudEvidence) return false;
    const o = this.orders.get(orderId);
    if (!o) return false;
    for (const k of o.keys) this.flag(k, now);
    return true;
  }

  /** The network found fraud evidence for this customer. */
  flagCustomer(customer: CustomerContext | undefined, now: number): void {
    for (const k of keysOf(customer)) this.flag(k, now);
  }

  isFlagged(customer: CustomerContext | undefined, now: number): boolean {
    return keysOf(customer).some((k) => {
      const at = this.flags.get(k);
      return at !== undefined && now - at <= FLAG_SECONDS;
    });
  }

  private flag(k: string, now: number): void {
    this.flags.delete(k);
    this.flags.set(k, now);
    trim(this.flags, (at) => now - at > FLAG_SECONDS);
  }
}

function keysOf(c: CustomerContext | undefined): string[] {
  if (!c) return [];
  const out: string[] = [];
  const h = (kind: string, v: string) => crypto.createHash('sha256').update(`${kind}\u0000${v}`).digest('base64').slice(0, 22);
  if (c.accountId) out.push(h('account', c.accountId));
  if (c.deviceId) out.push(h('device', c.deviceId));
  if (c.ip) out.push(h('ip', c.ip));
  return out;
}

/** Drops the oldest entries (Map insertion order) while expired or beyond MAX_ENTRIES. */
function trim<V>(m: Map<string, V>, expired: (v: V) => boolean): void {
  for (const [k, v] of m) {
    if (m.size <= MAX_ENTRIES && !expired(v)) break;
    m.delete(k);
  }
}
