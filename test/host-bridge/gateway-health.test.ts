// The bridge's view of gateway health at a low-volume shop: outcomes minutes apart still show an
// outage (the default window is a sync interval, not a minute), and the gateway comes back when
// its failures age out or approvals outnumber them.
import { describe, expect, it } from 'vitest';
import { GatewayHealth } from '../../host-bridge/routing/gateway-health.ts';

describe('GatewayHealth', () => {
  it('sees an outage from timeouts two minutes apart, and moves the route to the alternative', () => {
    const clock = { ms: 1_700_000_000_000 };
    const h = new GatewayHealth({ now: () => clock.ms });
    for (let i = 0; i < 3; i++) {
      clock.ms += 120_000;
      h.observe({ gateway: 'gw-a', status: 'failure', code: 'TIMEOUT', type: 'technical' }, null);
    }
    expect(h.failing()).toEqual(['gw-a']);
    expect(h.route('gw-a', ['gw-b'], null)).toEqual({ gateway: 'gw-b', overridden: 'failing' });
    // issuer declines at the same pace never make a gateway failing
    for (let i = 0; i < 5; i++) {
      clock.ms += 120_000;
      h.observe({ gateway: 'gw-b', status: 'failure', code: '05', type: 'soft' }, null);
    }
    expect(h.isFailing('gw-b')).toBe(false);
    // approvals through gw-a outnumber its failures: back
    for (let i = 0; i < 4; i++) {
      clock.ms += 60_000;
      h.observe({ gateway: 'gw-a', status: 'success' }, null);
    }
    expect(h.isFailing('gw-a')).toBe(false);
  });

  it('forgets an outage once its failures have left the window', () => {
    const clock = { ms: 1_700_000_000_000 };
    const h = new GatewayHealth({ now: () => clock.ms });
    for (let i = 0; i < 3; i++) h.observe({ gateway: 'gw-a', status: 'failure', code: 'TIMEOUT', type: 'technical' }, null);
    expect(h.isFailing('gw-a')).toBe(true);
    clock.ms += 15 * 60_000 + 1;
    expect(h.isFailing('gw-a')).toBe(false);
    expect(h.route('gw-a', ['gw-b'], null)).toEqual({ gateway: 'gw-a', overridden: null });
  });
});
