// `precheck server set-location | devices | import-offers | notice-rules | notify list|replay|purge`
// through the real CLI entry, on a data directory whose queue holds a dead-lettered notice.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openService } from '../../../server/service.ts';
import { precheck } from '../../../testkit/cli.ts';

const cli = precheck;

describe('precheck server notification commands', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-notify-cli-'));
  const data = path.join(dir, 'data');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Each CLI start takes seconds on a loaded machine: generous per-test timeouts, steps in order.
  it('sets and lists terminal locations', { timeout: 180_000 }, async () => {
    const svc = await openService({ dataDir: data, logLevel: 'silent', publishDebounceMs: -1, buildInChild: false, train: { schedule: null } });
    await svc.storage.upsertDevice({ id: 'term-1', merchant: 'shop', kind: 'ble', label: null, publicKey: null, createdAt: 1 });
    svc.notify.store.insertEndpoint({ id: 'ep_1', merchant: 'shop', account: 'a1', kind: 'webhook', url: 'https://example.invalid/h', phone: null, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', lang: 'en', consentText: 'ok', consentAt: 1, createdAt: 1 });
    svc.notify.store.enqueue([{ id: 'msg_dead', endpointId: 'ep_1', merchant: 'shop', account: 'a1', orderId: 'o1', eventType: 'payment.notice', payload: '{}', nextAt: 0, createdAt: 0 }]);
    const [claimed] = svc.notify.store.claim(1, 2, 1);
    svc.notify.store.markDead(claimed.id, 'receiver answered 500');
    await svc.close();

    expect((await cli('server', 'set-location', 'nope', '--lat', '1', '--lon', '2', '--category', '5411', '--data', data)).code).toBe(1);
    expect((await cli('server', 'set-location', 'term-1', '--lat', 'north', '--lon', '2', '--category', '5411', '--data', data)).code).toBe(2);
    const set = await cli('server', 'set-location', 'term-1', '--lat', '31.2304', '--lon', '121.4737', '--category', '5411', '--name', 'Shop', '--data', data);
    expect(set.stdout).toBe('device term-1: 31.2304,121.4737 category 5411 (Shop)\n');
    const devices = JSON.parse((await cli('server', 'devices', '--json', '--data', data)).stdout);
    expect(devices.devices[0]).toMatchObject({ id: 'term-1', location: { lat: 31.2304, lon: 121.4737, category: '5411' } });
  });

  it('imports offers and rule sets', { timeout: 180_000 }, async () => {

    fs.writeFileSync(path.join(dir, 'offers.csv'), 'merchant,name,category,lat,lon,item,price,currency\nm1,一号店,5411,31.23,121.47,牛奶,1200,CNY\nm1,x,5411,31.23,121.47,,1,CNY\n');
    const imp = await cli('server', 'import-offers', path.join(dir, 'offers.csv'), '--data', data);
    expect(imp.stdout).toBe('imported 1 offers of 1 merchants from 3 lines\n1 invalid lines: 3\n');
    fs.writeFileSync(path.join(dir, 'rules.json'), JSON.stringify({ rules: [{ id: 'r1', nearby: { k: 2, radiusKm: 1 } }] }));
    expect(JSON.parse((await cli('server', 'notice-rules', path.join(dir, 'rules.json'), '--data', data)).stdout).version).toBe(1);
    fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ rules: [{ id: 'r1' }] }));
    expect((await cli('server', 'notice-rules', path.join(dir, 'bad.json'), '--data', data)).code).toBe(2);
  });

  it('lists, replays and purges the queue', { timeout: 180_000 }, async () => {

    const list = await cli('server', 'notify', 'list', '--state', 'dead', '--data', data);
    expect(list.stdout).toContain('pending 0, sending 0, delivered 0, dead 1');
    expect(list.stdout).toContain('msg_dead\tdead\t1 attempt(s)\tep_1\to1\treceiver answered 500');
    expect((await cli('server', 'notify', 'replay', 'msg_unknown', '--data', data)).code).toBe(1);
    expect((await cli('server', 'notify', 'replay', '--dead', '--data', data)).stdout).toBe('1 message(s) queued again\n');
    expect(JSON.parse((await cli('server', 'notify', 'list', '--json', '--data', data)).stdout).counts).toMatchObject({ pending: 1, dead: 0 });
    expect((await cli('server', 'notify', 'purge', 'msg_dead', '--data', data)).stdout).toBe('1 message(s) purged\n');
    expect((await cli('server', 'notify', 'purge', '--state', 'pending', '--data', data)).code).toBe(2);
  });
});
