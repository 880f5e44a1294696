// Device call budget: how long one verification waits for a verifier that stops answering.
//
// Run alone:   node --import tsx bench/device-budget.bench.ts
// Or with all: npm run bench -- device-budget
//
// Methodology
// - A real device (DeviceCore + SessionDispatcher) behind the HID virtual cable (HidCableServer ↔
//   HidCableTransport over a unix socket), paired, its session open. Then it goes mute for SECURE
//   requests: "silent" answers nothing at all; "alive" keeps sending KEEPALIVE every 100 ms (a
//   device stuck in its handler), which extends a transport's idle timeout.
// - "pipeline": VerifyPipeline.verify (no network configured: the fallback answers), which makes
//   one Deadline of verify.deviceTimeoutMs and hands it down. Bound = that budget.
// - "layers only": SecureDeviceClient.verify without a budget, i.e. what the session's resend and
//   the transport's idle timeout alone give (idle timeout = the budget, as the registry sets it);
//   cut off at 5 × the budget when it does not end by itself.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { DeviceCore } from '../device/core/device-core.ts';
import { HidCableServer } from '../device/links/hid-cable-server.ts';
import { openSessionCore } from '../device/session/core-adapter.ts';
import { SessionDispatcher } from '../device/session/dispatcher.ts';
import { Outbox } from '../host-bridge/outbox/outbox-db.ts';
import { VerifyPipeline } from '../host-bridge/pipeline/verify-pipeline.ts';
import { pairDevice } from '../host-bridge/session/pairing.ts';
import { PinStore } from '../host-bridge/session/pin-store.ts';
import { SecureDeviceClient } from '../host-bridge/session/secure-client.ts';
import { HidCableTransport } from '../host-bridge/transports/hid-cable-transport.ts';
import { generateSigningKeyPair } from '../protocol/dataset/index.ts';
import { decodeMessage } from '../protocol/messages/index.ts';
import { makeTempDir } from '../testkit/tmp.ts';
import { SingleDeviceRegistry } from '../host-bridge/devices/single-device-registry.ts';
import { scaled } from './lib/scale.ts';
import { markdownTable, summarize } from './lib/stats.ts';
import type { BenchResult, SummaryRow } from './run.ts';

const BUDGET_MS = 1000;
const CUTOFF_MS = 5 * BUDGET_MS;
const CARD = { pan: '4111111111111111', expMonth: 12, expYear: 2030, amount: 1999, currency: 'EUR' };

interface Row {
  device: string;
  path: string;
  ms: number[];
  cutOff: number;
}

export async function run(): Promise<BenchResult> {
  const tmp = makeTempDir('precheck-bench-budget-');
  DeviceCore.open(tmp.file('dev'), { provision: { serverSigningPublicKey: generateSigningKeyPair().publicKey, cardKey: new Uint8Array(randomBytes(32)) } }).close();
  const core = await openSessionCore(tmp.file('dev'));
  const dispatcher = new SessionDispatcher({ core, confirmPairing: async () => true });
  const pins = PinStore.open(tmp.file('bridge'));
  const outbox = Outbox.open(tmp.file('bridge'));
  const rows: Row[] = [];
  try {
    for (const device of ['silent', 'alive'] as const) {
      let mute = false;
      const server = new HidCableServer({
        socketPath: tmp.file(`${device}.sock`),
        handler: (m, c) => (mute && decodeMessage(m).type === 'SECURE' ? new Promise<Uint8Array>(() => undefined) : dispatcher.handle(m, c)),
        onRejectedFrame: () => undefined,
        endpoint: { keepaliveMs: device === 'alive' ? 100 : 3_600_000 },
      });
      await server.start();
      try {
        for (const path of ['pipeline', 'layers only'] as const) {
          const row: Row = { device, path, ms: [], cutOff: 0 };
          const n = path === 'layers only' && device === 'alive' ? scaled(3, 2) : scaled(10, 3);
          for (let i = 0; i < n; i++) {
            const t = await HidCableTransport.open({ socketPath: tmp.file(`${device}.sock`) });
            if (!pins.list().length) await pairDevice(t, async () => true, { pinStore: pins, pollIntervalMs: 1 });
            const client = new SecureDeviceClient({ transport: t, pinStore: pins, requestTimeoutMs: BUDGET_MS });
            mute = false;
            await client.verify(CARD); // session open
            mute = true;
            const pipeline = new VerifyPipeline({
              registry: new SingleDeviceRegistry(client),
              network: null,
              outbox,
              fallback: { kind: 'review' },
              merchantCountry: null,
              lang: 'en',
              deviceTimeoutMs: BUDGET_MS,
              logger: pino({ level: 'silent' }),
            });
            const t0 = performance.now();
            const call = path === 'pipeline' ? pipeline.verify({ card: { number: CARD.pan, expMonth: 12, expYear: 2030 }, order: { id: `budget-${device}-${i}`, amount: { value: 1999, currency: 'EUR' } } }) : client.verify(CARD);
            let timer: NodeJS.Timeout | undefined;
            const cut = new Promise<'cut'>((r) => (timer = setTimeout(() => r('cut'), CUTOFF_MS)));
            const out = await Promise.race([call.then(() => 'done', () => 'done'), cut]);
            clearTimeout(timer);
            row.ms.push(performance.now() - t0);
            if (out === 'cut') row.cutOff++;
            await client.close().catch(() => undefined);
          }
          rows.push(row);
        }
      } finally {
        await server.close();
      }
    }
  } finally {
    outbox.close();
    dispatcher.close();
    core.close();
    tmp.cleanup();
  }
  const f = (x: number) => x.toFixed(0);
  const table = markdownTable(
    ['device', 'path', 'n', 'p50 ms', 'p99 ms', `budget ms`, 'p50 ÷ budget', `cut off at ${CUTOFF_MS} ms`],
    rows.map((r) => {
      const s = summarize(r.ms);
      return [r.device, r.path, s.n, f(s.median), f(s.p99), BUDGET_MS, (s.median / BUDGET_MS).toFixed(2), `${r.cutOff} of ${s.n}`];
    }),
  );
  const notes = `
The pipeline ends the device call at its one budget (verify.deviceTimeoutMs, here ${BUDGET_MS} ms)
whatever the device does. Without it, the layers' own timeouts add up: a silent device costs the
exchange's idle timeout twice (the SECURE and its one resend), and a device that keeps sending
KEEPALIVE never times out at all (cut off here at ${CUTOFF_MS} ms).`;
  const pipe = (d: string) => summarize(rows.find((r) => r.device === d && r.path === 'pipeline')!.ms);
  const summary: SummaryRow[] = ['silent', 'alive'].map((d) => ({
    figure: `verify with a mute device (${d}), p50`,
    value: `${f(pipe(d).median)} ms (p99 ${f(pipe(d).p99)})`,
    bound: `${BUDGET_MS} ms budget`,
    ratio: (pipe(d).median / BUDGET_MS).toFixed(2),
  }));
  return { title: 'Device call budget: a mute verifier costs the budget, not the sum of the layers', markdown: `${table}\n${notes}`, summary };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await run();
  process.stdout.write(`${r.markdown}\n`);
  process.exit(0);
}
