// Issue 13 item 10: the bridge and the service read the Authorization header the same way — the
// scheme in any case, exactly one space, nothing else (the service used to refuse `bearer` and
// accept two spaces while the bridge did the opposite).
import { describe, expect, it } from 'vitest';
import { bearerCredentials } from '../../contracts/bearer.ts';
import { bearerKey } from '../../server/auth/api-keys.ts';

const KEY = 'pk_abcdefghijklmnopqrstuvwx';

describe('one Authorization parser for bridge and service', () => {
  it('accepts the scheme in any case with exactly one space', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      expect(bearerCredentials(`${scheme} ${KEY}`), scheme).toBe(KEY);
      expect(bearerKey(`${scheme} ${KEY}`), scheme).toBe(KEY);
    }
  });

  it('refuses two spaces, a tab, trailing text, another scheme, an empty or missing header', () => {
    for (const h of [`Bearer  ${KEY}`, `Bearer\t${KEY}`, `Bearer ${KEY} x`, `Basic ${KEY}`, 'Bearer ', '', `Bearer${KEY}`, undefined]) {
      expect(bearerCredentials(h), JSON.stringify(h)).toBeNull();
      expect(bearerKey(h), JSON.stringify(h)).toBeNull();
    }
  });

  it('the service still refuses credentials that are not API-key shaped', () => {
    expect(bearerKey('Bearer short')).toBeNull();
    expect(bearerKey(`Bearer ${'x'.repeat(129)}`)).toBeNull();
    expect(bearerKey('Bearer pk_with+plus/slash')).toBeNull();
  });
});
