// Card capture by phone (seed 001) on a real bridge: a scripted caller on a minimal VoiceXML
// platform (./vxml-caller.ts) interprets the served documents — menus, fields with SRGS DTMF
// grammars, <submit>/<goto> — through happy paths, wrong digits, timeouts, hang-ups, declines and
// call-back campaigns with redials and SMS; every capture goes through the bridge's verify
// pipeline to the verifier device. Afterwards no test card number is anywhere in logs or data.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SmsMessage } from '../../../protocol/channels/sms-adapter.ts';
import type { CallRecord, DialResult, Dialler } from '../../../host-bridge/ivr/campaigns.ts';
import type { SessionEnd } from '../../../host-bridge/ivr/capture-flow.ts';
import { FakeRegistry, ScriptedDevice } from '../device-double.ts';
import { startTestBridge, type TestBridge } from '../bridge-harness.ts';
import { makeTempDir } from '../temp-dir.ts';
import { onceEvent, withTimeout } from '../../../testkit/wait.ts';
import { filesUnder } from '../../../testkit/tmp.ts';
import { HANGUP, SILENCE, parseXml, runCall, srgsToRegExp, type Answer, type CallLog } from './vxml-caller.ts';

const GOOD = '4000056655665556';
const GOOD_MC = '5555555555554444';
const DECLINED = '4111111111111111';
const NOT_LUHN = '4000056655665557';
const ALL_PANS = [GOOD, GOOD_MC, DECLINED, NOT_LUHN];

const order = (id: string) => ({ id, amount: { value: 12_345, currency: 'EUR' }, country: 'FR' });

describe('phone capture: VoiceXML served by the bridge, verified by the same pipeline', () => {
  const dir = makeTempDir('precheck-ivr-');
  const sms: SmsMessage[] = [];
  const device = new ScriptedDevice('dev-ivr', (req) =>
    req.pan === DECLINED
      ? { decision: 'decline', reason: 'restricted', prompt: { code: 'use_another_card', message: req.lang === 'zh' ? '请使用另一张卡。' : 'Please use another card.', lang: req.lang ?? 'en' } }
      : { decision: 'approve', reason: 'known_good', prompt: null },
  );
  // The telephony platform's outbound API: per number, a list of what happens on each dial; an
  // answered call runs the scripted caller against the start URL.
  const plans = new Map<string, { dial: DialResult; caller?: Answer[] }[]>();
  const calls: Promise<CallLog>[] = [];
  let onLine = 0;
  let maxOnLine = 0;
  const dialler: Dialler = {
    async dial({ to, url }) {
      const step = plans.get(to)?.shift() ?? { dial: 'no-answer' as DialResult };
      if (step.dial === 'answered') {
        // On the line from answer until the session ends (the platform's hang-up report after a
        // <disconnect> comes when the line is already free).
        onLine++;
        maxOnLine = Math.max(maxOnLine, onLine);
        calls.push(runCall(url, step.caller ?? []));
      }
      return step.dial;
    },
  };
  let bridge: TestBridge;
  const ended: SessionEnd[] = [];

  beforeAll(async () => {
    bridge = await startTestBridge({
      dataDir: dir.path,
      registry: new FakeRegistry([device]),
      raw: { merchant: { country: 'FR' } },
      ivr: {
        dialler,
        sms: { send: async (m) => void sms.push(m) },
        capture: { maxErrors: 3, maxCards: 2 },
        campaigns: { lines: 2, maxAttempts: 3, baseBackoffMs: 10, maxBackoffMs: 40, pollMs: 50 },
      },
    });
    // First in line, so a freed line is counted before the campaign's own listener dials again.
    bridge.ivr!.flow.prependListener('ended', (e) => {
      ended.push(e);
      if (e.callId) onLine--;
    });
  });
  afterAll(async () => {
    await bridge?.close();
    dir.remove();
  });

  async function callIn(lang = 'en', extra: Record<string, unknown> = {}): Promise<string> {
    const r = await fetch(`${bridge.url}/v1/ivr/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: order(`o-${Math.random().toString(36).slice(2, 8)}`), lang, ...extra }) });
    expect(r.status).toBe(200);
    const j = (await r.json()) as { startUrl: string };
    expect(j.startUrl).toMatch(new RegExp(`^${bridge.url}/v1/ivr/s/[0-9a-f]{32}/start$`));
    return j.startUrl;
  }
  const endOf = (url: string) => ended.find((e) => url.includes(e.sessionId));

  it('serves VoiceXML 2.1 with SRGS DTMF grammars the platform can compile', async () => {
    const res = await fetch(await callIn());
    expect(res.headers.get('content-type')).toBe('application/voicexml+xml; charset=utf-8');
    const doc = parseXml(await res.text());
    expect(doc.attrs).toMatchObject({ version: '2.1', xmlns: 'http://www.w3.org/2001/vxml', 'xml:lang': 'en' });
    const card = parseXml(await (await fetch(res.url.replace(/start$/, 'card'))).text());
    const field = (card.children.find((c) => typeof c !== 'string' && c.name === 'form') as any).children.find((c: any) => c.name === 'field');
    const g = srgsToRegExp(field.children.find((c: any) => c.name === 'grammar'));
    expect(g.test('4000056655665556')).toBe(true);
    expect(g.test('12345678901')).toBe(false);
    expect(g.test('12345678901234567890')).toBe(false);
  });

  it('happy path: menu, card number, expiry, security code → the device decides, the result is read back', async () => {
    const before = device.calls.length;
    const url = await callIn();
    const log = await runCall(url, ['1', `${GOOD}#`, '1230', '737']);
    expect(log.asked).toEqual(['main', 'pan', 'expiry', 'cvc']);
    expect(log.said[0]).toBe('Welcome. You are paying 123.45 EUR for order ' + log.said[0].split('order ')[1]);
    expect(log.said.at(-2)).toBe('Thank you. Your card was accepted.');
    expect(log.end).toBe('disconnect');
    // The PAN went to the verifier device through the pipeline, nowhere else.
    expect(device.calls.slice(before).map((c) => [c.pan, c.expMonth, c.expYear, c.amount, c.currency])).toEqual([[GOOD, 12, 2030, 12_345, 'EUR']]);
    expect(endOf(url)).toMatchObject({ end: 'completed', result: { decision: 'approve', reason: 'known_good', stage: 'local' } });
    // Values were POSTed, never put in a URL.
    // (The random hex session id can hold a run of digits by chance, so it is cut out first.)
    const gets = log.fetched.filter((f) => f.startsWith('GET')).map((f) => f.replace(/\/s\/[0-9a-f]{32}\//, '/s/<sid>/'));
    expect(gets.join()).not.toMatch(/[0-9]{4}/);
  });

  it('wrong digits: grammar mismatch and a failed Luhn check are re-prompted; bad expiry too', async () => {
    const url = await callIn();
    const log = await runCall(url, ['7', '1', '1234#', `${NOT_LUHN}#`, `${GOOD}#`, '1399', '0120', '1230', '12', '737']);
    expect(log.asked).toEqual(['main', 'main', 'pan', 'pan', 'pan', 'expiry', 'expiry', 'expiry', 'cvc', 'cvc']);
    expect(log.said).toContain('Sorry, I did not get that.');
    expect(log.said.some((s) => s.startsWith('That card number is not valid. Please enter your card number'))).toBe(true);
    expect(log.said.filter((s) => s.startsWith('That expiry date is not valid.'))).toHaveLength(2);
    expect(endOf(url)).toMatchObject({ end: 'completed', result: { decision: 'approve' } });
  });

  it("the caller's language: prompts and the decision's own prompt in Chinese; a declined card may be replaced", async () => {
    const url = await callIn('zh');
    const log = await runCall(url, ['1', `${DECLINED}#`, '1230', '123', '1', `${GOOD_MC}#`, '1230', '123']);
    expect(log.said[0]).toMatch(/^您好，您正在为订单/);
    expect(log.said).toContain('您的卡不能用于本次支付。 请使用另一张卡。 换一张卡请按1，结束通话请按2。');
    expect(log.said.at(-2)).toBe('谢谢，您的卡已通过验证。');
    expect(endOf(url)).toMatchObject({ end: 'completed', result: { decision: 'approve' } });
  });

  it('further identity data the merchant requires is asked and checked', async () => {
    const url = await callIn('fr', { identity: { postcode: '75001' }, requireCvc: false });
    const log = await runCall(url, ['1', `${GOOD}#`, '1230', '75002#', '75001#']);
    expect(log.asked).toEqual(['main', 'pan', 'expiry', 'identity', 'identity']);
    expect(log.said).toContain('Cela ne correspond pas à nos informations. Veuillez saisir votre code postal, puis la touche dièse.');
    expect(endOf(url)?.end).toBe('completed');
  });

  it('timeouts: three silences end the call as a timeout; too many wrong entries end it as failed', async () => {
    const url = await callIn();
    const log = await runCall(url, ['1', SILENCE, SILENCE, SILENCE]);
    expect(log.said).toContain('Sorry, I did not hear anything.');
    expect(log.said).toContain('We did not receive your entry. We will contact you again.');
    expect(endOf(url)?.end).toBe('timeout');
    const url2 = await callIn();
    await runCall(url2, ['1', `${NOT_LUHN}#`, `${NOT_LUHN}#`, `${NOT_LUHN}#`]);
    expect(endOf(url2)?.end).toBe('failed');
  });

  it('a hang-up mid-capture is reported by the platform and ends the session; its documents are gone', async () => {
    const url = await callIn();
    const log = await runCall(url, ['1', `${GOOD}#`, HANGUP]);
    expect(log.end).toBe('hangup');
    expect(log.fetched.at(-1)).toMatch(/^POST \/v1\/ivr\/s\/[0-9a-f]{32}\/hangup$/);
    expect(endOf(url)).toMatchObject({ end: 'hangup', result: null });
    const again = await runCall(url, []);
    expect(again.said).toEqual(['This payment call is no longer valid. Goodbye.']);
  });

  it('call-backs: busy / no answer / hang-up are redialled with backoff, several lines at once, SMS when capture never completes', async () => {
    const c = bridge.ivr!.campaigns!;
    const done = ['+33612345678', '+33698765432', '+442079460000', '+33611111111'];
    plans.set(done[0], [{ dial: 'busy' }, { dial: 'answered', caller: ['1', `${GOOD}#`, '1230', '737'] }]);
    plans.set(done[1], [{ dial: 'answered', caller: ['1', `${GOOD_MC}#`, HANGUP] }, { dial: 'answered', caller: ['1', `${GOOD_MC}#`, '1230', '123'] }]);
    plans.set(done[2], [{ dial: 'no-answer' }, { dial: 'no-answer' }, { dial: 'no-answer' }]);
    plans.set(done[3], [{ dial: 'answered', caller: ['2', '1', `${GOOD}#`, '1230', '737'] }]);
    const finished: CallRecord[] = [];
    const attempts: [string, DialResult][] = [];
    c.on('attempt', (r, res) => attempts.push([r.phone, res]));
    const allDone = new Promise<void>((resolve) =>
      c.on('finished', (r) => {
        finished.push(r);
        if (finished.length === 4) resolve();
      }),
    );
    const post = (body: unknown) => fetch(`${bridge.url}/v1/ivr/callbacks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // A national number is read in the merchant's region (FR); a foreign one needs its +code.
    const r0 = await post({ order: order('cb-0'), phone: '06 12 34 56 78', lang: 'en' });
    expect(r0.status).toBe(201);
    expect(((await r0.json()) as CallRecord).phone).toBe(done[0]);
    await post({ order: order('cb-1'), phone: '+33 6 98 76 54 32', lang: 'fr' });
    await post({ order: order('cb-2'), phone: '020 7946 0000', region: 'GB', lang: 'en' });
    await post({ order: order('cb-3'), phone: '0611111111' });
    expect((await post({ order: order('cb-x'), phone: '12' })).status).toBe(400);
    await withTimeout(allDone, 30_000, 'all four call-backs to finish');
    await Promise.all(calls);
    const byOrder = Object.fromEntries(finished.map((r) => [r.orderId, r]));
    expect(byOrder['cb-0']).toMatchObject({ state: 'completed', attempts: 2, decision: 'approve', sms: null });
    expect(byOrder['cb-1']).toMatchObject({ state: 'completed', attempts: 2, decision: 'approve' });
    expect(byOrder['cb-2']).toMatchObject({ state: 'failed', attempts: 3, lastResult: 'no-answer', sms: 'sent' });
    expect(byOrder['cb-3']).toMatchObject({ state: 'completed', attempts: 1 });
    expect(attempts.filter(([p]) => p === done[0]).map(([, r]) => r)).toEqual(['busy', 'answered']);
    expect(maxOnLine).toBeLessThanOrEqual(2);
    expect(sms).toEqual([{ id: expect.stringMatching(/^sms_call_/), to: '+442079460000', text: 'We could not complete the phone payment for order cb-2. Please call us back or pay another way.' }]);
    const listed = (await (await fetch(`${bridge.url}/v1/ivr/callbacks?state=completed`)).json()) as { calls: CallRecord[] };
    expect(listed.calls.map((x) => x.orderId).sort()).toEqual(['cb-0', 'cb-1', 'cb-3']);
  });

  it('several concurrent call-ins are independent', async () => {
    const activeBefore = bridge.ivr!.flow.active;
    const urls = await Promise.all([0, 1, 2, 3, 4].map(() => callIn()));
    expect(bridge.ivr!.flow.active).toBe(activeBefore + 5);
    const logs = await Promise.all(urls.map((u, i) => runCall(u, ['1', `${i % 2 ? GOOD : GOOD_MC}#`, '1230', i % 2 ? '737' : '123'])));
    expect(logs.every((l) => l.said.includes('Thank you. Your card was accepted.'))).toBe(true);
    expect(urls.map((u) => endOf(u)?.end)).toEqual(['completed', 'completed', 'completed', 'completed', 'completed']);
    expect(bridge.ivr!.flow.active).toBe(activeBefore);
  });

  it('no test card number in any log line or data file afterwards', async () => {
    bridge.ivr!.campaigns!.db.pragma('wal_checkpoint(TRUNCATE)');
    const files = filesUnder(dir.path);
    expect(files.some((f) => f.endsWith('bridge.log'))).toBe(true);
    expect(files.some((f) => f.endsWith('ivr-campaigns.db'))).toBe(true);
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      for (const pan of ALL_PANS) {
        expect(bytes.includes(pan), `${pan} in ${path.basename(f)}`).toBe(false);
        expect(bytes.includes(Buffer.from(pan, 'utf16le')), `${pan} (UTF-16) in ${path.basename(f)}`).toBe(false);
      }
    }
    for (const m of sms) for (const pan of ALL_PANS) expect(m.text).not.toContain(pan);
    expect(bridge.readLog()).toContain('ivr session ended');
  });
});
