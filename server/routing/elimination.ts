// Elimination of gateways in an acute incident, like a circuit breaker: N consecutive technical
// failures/timeouts open it for a cool-down; after the cool-down the gateway is half-open
// ("probing"): one recommendation is sent to it as a probe; a success closes the breaker, another
// technical failure opens it again at once. Success rates react in minutes; this reacts in N
// payments, which is what an outage needs.

export interface EliminationOptions {
  consecutiveFailures: number; // technical failures in a row that eliminate a gateway
  coolDownSeconds: number; // how long it stays eliminated before a probe
}

/** 'probe-due': cool-down over and no probe in flight; a gateway whose probe is in flight stays 'eliminated'. */
export type GatewayHealth = 'healthy' | 'eliminated' | 'probe-due';

interface State {
  consecutive: number;
  eliminatedUntil: number | null; // unix s; null = breaker closed
  probeSentAt: number | null; // half-open: when the probe was sent
}

export class EliminationTracker {
  private readonly states = new Map<string, State>();
  constructor(private readonly opts: EliminationOptions) {}

  private state(gateway: string): State {
    let st = this.states.get(gateway);
    if (!st) {
      st = { consecutive: 0, eliminatedUntil: null, probeSentAt: null };
      this.states.set(gateway, st);
    }
    return st;
  }

  /** Feeds one outcome, in arrival order. `technical` = timeout/technical error at the gateway. */
  record(gateway: string, technical: boolean, at: number): void {
    const st = this.state(gateway);
    if (!technical) {
      // Any processed answer (approval or issuer decline) proves the gateway works.
      st.consecutive = 0;
      st.eliminatedUntil = null;
      st.probeSentAt = null;
      return;
    }
    st.consecutive++;
    const halfOpen = st.eliminatedUntil !== null && at >= st.eliminatedUntil;
    if (halfOpen || st.consecutive >= this.opts.consecutiveFailures) {
      // A failed probe re-opens the breaker at once; otherwise the N-th failure opens it.
      st.eliminatedUntil = Math.max(st.eliminatedUntil ?? 0, at + this.opts.coolDownSeconds);
      st.probeSentAt = null;
    }
  }

  health(gateway: string, now: number): GatewayHealth {
    const st = this.states.get(gateway);
    if (!st || st.eliminatedUntil === null) return 'healthy';
    if (now < st.eliminatedUntil) return 'eliminated';
    // Half-open: one probe at a time; a probe whose outcome never came is re-sent after a cool-down.
    if (st.probeSentAt !== null && now - st.probeSentAt < this.opts.coolDownSeconds) return 'eliminated';
    return 'probe-due';
  }

  markProbeSent(gateway: string, now: number): void {
    this.state(gateway).probeSentAt = now;
  }

  /** Gateways not to be routed to at `now` (cool-down running or probe in flight). */
  eliminated(now: number): string[] {
    const out: string[] = [];
    for (const g of this.states.keys()) if (this.health(g, now) === 'eliminated') out.push(g);
    return out.sort();
  }

  /** When each breaker opened by failures ends its cool-down (for stats). */
  openUntil(): Array<{ gateway: string; until: number }> {
    const out: Array<{ gateway: string; until: number }> = [];
    for (const [g, st] of this.states) if (st.eliminatedUntil !== null) out.push({ gateway: g, until: st.eliminatedUntil });
    return out.sort((a, b) => (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
  }

  consecutiveFailures(gateway: string): number {
    return this.states.get(gateway)?.consecutive ?? 0;
  }
}
