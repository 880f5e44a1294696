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
// customer context). Likewise a customer seen with ANOTHER card within CARD_SECONDS (any of
// account, device, IP): fraudsters cycle stolen cards from one device, which the network's
// velocity checks catch (5 distinct cards a day on a device) — a floor approval must not skip
// them, and a shopper who changes cards is rare enough to ask the network about. Only floor-limit
// approvals: a known-good card stays local.
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
/** "Seen with another card" looks back this far (the network's device and account velocity windows are a day). */
export const CARD_SECONDS = 86_400;
/** Cards remembered per customer key (enough to tell "another card"). */
const CARDS_PER_KEY = 4;

export class CustomerFlags {
  private readonly orders = new Map<string, { keys: string[]; at: number }>();
  private readonly flags = new Map<string, number>();
  private readonly cards = new Map<string, Map<string, number>>();

  /**
   * Notes that the customer verified `token` (hex) and says whether, before it, any of their
   * identifiers was seen with another card within CARD_SECONDS.
   */
  noteCard(customer: CustomerContext | undefined, token: string, now: number): boolean {
    let other = false;
    for (const k of keysOf(customer)) {
      const seen = this.cards.get(k) ?? new Map<string, number>();
      for (const [t, at] of seen) if (t !== token && now - at <= CARD_SECONDS) other = true;
      seen.delete(token);
      seen.set(token, now);
      while (seen.size > CARDS_PER_KEY) seen.delete(seen.keys().next().value as string);
      this.cards.delete(k);
      this.cards.set(k, seen);
      trim(this.cards, (m) => [...m.values()].every((at) => now - at > CARD_SECONDS));
    }
    return other;
  }

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
