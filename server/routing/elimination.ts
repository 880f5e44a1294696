// Elimination of gateways in an acute incident, like a circuit breaker: N consecutive technical
// failures/timeouts (or 3 among its last 5 answers: a partial outage) open it for a cool-down; after the cool-down the gateway is half-open
// ("probing"): one recommendation is sent to it as a probe; a success closes the breaker, another
// technical failure opens it again at once. After a successful probe the gateway is "recovering"
// until `recoveryAnswers` processed answers in a row: one technical failure meanwhile re-opens the
// breaker at once (a flapping gateway costs one attempt, not N); then it is recovered. Success rates react in minutes; this reacts in N
// payments, which is what an outage needs. Each failed probe (or relapse while recovering) doubles
// the next cool-down, up to maxCoolDownSeconds: a probe is a customer's attempt, and during a
// three-hour outage a probe every 5 minutes cost the simulator's shop about a dozen orders.

export interface EliminationOptions {
  consecutiveFailures: number; // technical failures in a row that eliminate a gateway
  coolDownSeconds: number; // how long it stays eliminated before a probe
  recoveryAnswers?: number; // processed answers in a row after a probe that confirm recovery; default 3
  /** Longest cool-down after repeated failed probes (doubling from coolDownSeconds); default 3 × coolDownSeconds. */
  maxCoolDownSeconds?: number;
  /**
   * The breaker also opens when `windowFailures` of the gateway's last `windowAnswers` answers were
   * technical failures (defaults 3 of 5), not only on consecutiveFailures in a row: in a partial
   * outage (half the attempts time out) an approval now and then restarts the run, so five in a
   * row took most of an hour (the simulator's drift-outage, beta at 50 % timeouts for an hour: 8
   * timeouts, never eliminated). 3 of 5 by chance at an everyday 0.6 % failure rate: about 2 in a
   * million answers. 0 = off.
   */
  windowAnswers?: number;
  windowFailures?: number;
}

/** 'probe-due': cool-down over and no probe in flight; a gateway whose probe is in flight stays 'eliminated'. */
export type GatewayHealth = 'healthy' | 'eliminated' | 'probe-due';

interface State {
  consecutive: number;
  eliminatedUntil: number | null; // unix s; null = breaker closed
  probeSentAt: number | null; // half-open: when the probe was sent
  recovering: number | null; // processed answers in a row since the breaker closed; null = not recovering
  relapses: number; // failed probes / relapses since the last confirmed recovery (cool-down doubling)
  recent: boolean[]; // the last windowAnswers answers while the breaker is closed, true = technical failure
}

export class EliminationTracker {
  private readonly states = new Map<string, State>();
  constructor(private readonly opts: EliminationOptions) {}

  private state(gateway: string): State {
    let st = this.states.get(gateway);
    if (!st) {
      st = { consecutive: 0, eliminatedUntil: null, probeSentAt: null, recovering: null, relapses: 0, recent: [] };
      this.states.set(gateway, st);
    }
    return st;
  }

  /**
   * Feeds one outcome, in arrival order. `technical` = timeout/technical error at the gateway.
   * Returns 'recovering' when this outcome closed an open breaker, 'recovered' when it confirmed
   * the recovery (recoveryAnswers processed answers in a row since).
   */
  record(gateway: string, technical: boolean, at: number): 'recovering' | 'recovered' | null {
    const st = this.state(gateway);
    const needed = Math.max(1, this.opts.recoveryAnswers ?? 3);
    const windowAnswers = this.opts.windowAnswers ?? 5;
    const windowFailures = this.opts.windowFailures ?? 3;
    if (windowAnswers > 0 && st.eliminatedUntil === null) {
      st.recent.push(technical);
      if (st.recent.length > windowAnswers) st.recent.shift();
    }
    if (!technical) {
      // Any processed answer (approval or issuer decline) proves the gateway works.
      const wasOpen = st.eliminatedUntil !== null;
      st.consecutive = 0;
      st.eliminatedUntil = null;
      st.probeSentAt = null;
      if (wasOpen) st.recovering = 0;
      if (st.recovering === null) return null;
      if (++st.recovering >= needed) {
        st.recovering = null;
        st.relapses = 0;
        return 'recovered';
      }
      return 'recovering';
    }
    st.consecutive++;
    const halfOpen = st.eliminatedUntil !== null && at >= st.eliminatedUntil;
    const windowTrip = windowAnswers > 0 && windowFailures > 0 && st.recent.filter((x) => x).length >= windowFailures;
    if (halfOpen || st.recovering !== null || st.consecutive >= this.opts.consecutiveFailures || windowTrip) {
      // A failed probe re-opens the breaker at once, for twice as long as before (capped);
      // otherwise the N-th failure opens it.
      if (halfOpen || st.recovering !== null) st.relapses++;
      st.recovering = null;
      const max = this.opts.maxCoolDownSeconds ?? 3 * this.opts.coolDownSeconds;
      const coolDown = Math.min(Math.max(max, this.opts.coolDownSeconds), this.opts.coolDownSeconds * 2 ** st.relapses);
      st.eliminatedUntil = Math.max(st.eliminatedUntil ?? 0, at + coolDown);
      st.probeSentAt = null;
      st.recent = []; // a recovered gateway starts with a clean record
    }
    return null;
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

  /** Breaker closed by a probe, recovery not yet confirmed. */
  isRecovering(gateway: string): boolean {
    return (this.states.get(gateway)?.recovering ?? null) !== null;
  }

  consecutiveFailures(gateway: string): number {
    return this.states.get(gateway)?.consecutive ?? 0;
  }
}
