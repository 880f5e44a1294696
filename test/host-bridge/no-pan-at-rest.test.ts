// Drives every path that touches a card through the real bridge, then searches every file the
// bridge wrote (SQLite database, WAL, log) and every byte the network service received for the
// test card numbers and their security codes: none may appear.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { filesUnder } from '../../testkit/tmp.ts';
import { request } from 'undici';
import { FakeRegistry, ScriptedDevice } from './device-double.ts';
import { bridgeEnvEachTest, startTestBridge, waitForPass } from './bridge-harness.ts';
import { ProtocolError } from '../../protocol/errors.ts';

const PANS = ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117'];
const CVCS = ['918', '1234'];
const env = bridgeEnvEachTest();

describe('no card number at rest or on the network', () => {
  it('SQLite files, logs and network bodies hold BIN/last four only', async () => {
    let n = 0;
    const device = new ScriptedDevice('dev-1', () => {
      n++;
      if (n % 4 === 1) return { decision: 'approve', reason: 'known_good' };
      if (n % 4 === 2) return { decision: 'escalate', reason: 'unknown_card' };
      if (n % 4 === 3) return new ProtocolError('DISCONNECTED', 'unplugged');
      return { decision: 'decline', reason: 'restricted' };
    });
    let down = false;
    env.svc.handler = (r) => (down ? { status: 503 } : r.path === '/v1/outcomes' ? { status: 200, body: {} } : { status: 200, body: { decision: 'review', reason: 'x', prompt: null, gateway: 'gw' } });
    env.bridge = await startTestBridge({ dataDir: env.dir.path, raw: { network: { serviceUrl: env.svc.url, retries: 0, breaker: { failureThreshold: 1000, resetMs: 1000 } }, fallback: 'approve-below:100000' }, registry: new FakeRegistry([device]) });
    const post = async (path: string, body: string) => {
      const res = await request(env.bridge!.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { status: res.statusCode, text: await res.body.text() };
    };

    const responses: string[] = [];
    for (const [i, pan] of PANS.entries()) {
      const cvc = pan.startsWith('37') ? CVCS[1] : CVCS[0];
      down = i === 3; // the last one goes to the fallback
      for (let k = 0; k < 2; k++) {
        const id = `ord-${i}-${k}`;
        const r = await post('/v1/verify', JSON.stringify({ card: { number: pan, expMonth: 3, expYear: 2031, cvc }, order: { id, amount: { value: 500, currency: 'USD' } } }));
        expect(r.status).toBe(200);
        responses.push(r.text);
        responses.push((await post('/v1/outcomes', JSON.stringify({ orderId: id, gateway: 'gw', status: k ? 'failure' : 'success', code: k ? '51' : undefined }))).text);
      }
      // error paths that carry the number: wrong Luhn, bad JSON, schema violation
      responses.push((await post('/v1/verify', JSON.stringify({ card: { number: pan.slice(0, -1) + ((Number(pan.slice(-1)) + 1) % 10), expMonth: 3, expYear: 2031 }, order: { id: 'x', amount: { value: 1, currency: 'USD' } } }))).text);
      responses.push((await post('/v1/verify', `{"card":{"number":"${pan}","cvc":"${cvc}"`)).text);
      responses.push((await post('/v1/verify', JSON.stringify({ card: { number: pan, expMonth: 3, expYear: 2031, cvc }, order: { id: 'x', amount: { value: 1.5, currency: 'USD' } } }))).text);
    }
    down = false;
    const drained = waitForPass(env.bridge.forwarder, () => env.bridge!.outbox.depth().outcomesPending === 0 && env.bridge!.outbox.depth().reconciliationsPending === 0);
    env.bridge.forwarder.kick();
    await drained;
    await env.bridge.close();
    env.bridge = null;

    const files = filesUnder(env.dir.path);
    expect(files.some((f) => f.endsWith('outbox.sqlite'))).toBe(true);
    expect(files.some((f) => f.endsWith('bridge.log'))).toBe(true);
    const haystacks: Array<[string, string]> = [
      ...files.map((f) => [f, readFileSync(f).toString('latin1')] as [string, string]),
      ['network requests', env.svc.requests.map((r) => r.raw + JSON.stringify(r.headers)).join('\n')],
      ['API responses', responses.join('\n')],
    ];
    const log = haystacks.find(([f]) => f.endsWith('bridge.log'))![1];
    expect(log).toContain('"bin":"411111"'); // the log is there and meaningful
    expect(new Set(env.svc.requests.filter((r) => r.path === '/v1/outcomes').map((r) => r.headers['idempotency-key'])).size).toBe(8);
    for (const [name, text] of haystacks) {
      for (const pan of PANS) {
        expect(text.includes(pan), `${pan} found in ${name}`).toBe(false);
        // no run of 12+ digits of it either (e.g. PAN without its check digit)
        expect(text.includes(pan.slice(0, 12)), `PAN prefix found in ${name}`).toBe(false);
      }
      if (name !== 'API responses') for (const cvc of CVCS) expect(text.includes(`"${cvc}"`), `CVC found in ${name}`).toBe(false);
    }
  });
});
