// End-to-end pieces for the sync stories: a noisy RS485 "cable" between two pty pairs (bytes
// relayed both ways; garbage injected on demand, as electrical noise would), the bridge as a real
// `precheck bridge` child process, and `precheck sync` runs.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { SerialPort } from 'serialport';
import { BIN, ROOT } from '../integration/fixtures.ts';
import { validateConfig } from '../../host-bridge/config.ts';
import { createDeviceRegistry } from '../../host-bridge/discovery/registry.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import { onceEvent } from '../../testkit/wait.ts';
import { killAndWait, run, spawnTracked, waitForOutput, type RunResult } from '../../testkit/process.ts';
import { openPtyPair, type PtyPair } from '../../testkit/pty-pair.ts';

export interface NoisyBus {
  /** The bridge opens this end. */
  bridgeSide: string;
  /** The emulator opens this end. */
  deviceSide: string;
  /** Garbage bytes written so far (towards the devices and towards the bridge). */
  injected: number;
  /** Write `n` random bytes onto the line, towards the devices and towards the bridge. */
  inject(n: number): Promise<void>;
  close(): Promise<void>;
}

function openPort(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const p = new SerialPort({ path, baudRate: 115200, lock: false }, (err) => (err ? reject(err) : resolve(p)));
  });
}

function write(p: SerialPort, b: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => p.write(Buffer.from(b), (e) => (e ? reject(e) : p.drain(() => resolve()))));
}

export async function openNoisyBus(): Promise<NoisyBus> {
  const left: PtyPair = await openPtyPair();
  const right: PtyPair = await openPtyPair();
  const l = await openPort(left.b);
  const r = await openPort(right.a);
  l.on('data', (d: Buffer) => r.write(d));
  r.on('data', (d: Buffer) => l.write(d));
  const bus: NoisyBus = {
    bridgeSide: left.a,
    deviceSide: right.b,
    injected: 0,
    async inject(n) {
      const junk = new Uint8Array(n).map(() => Math.floor(Math.random() * 256));
      await Promise.all([write(r, junk), write(l, junk)]);
      bus.injected += 2 * n;
    },
    async close() {
      await new Promise<void>((res) => (l.isOpen ? l.close(() => res()) : res()));
      await new Promise<void>((res) => (r.isOpen ? r.close(() => res()) : res()));
      await left.close();
      await right.close();
    },
  };
  return bus;
}

export interface BridgeProcess {
  child: ChildProcess;
  url: string;
  /** stdout (pino JSON lines) so far */
  log(): string;
  /** Resolve on the next stdout line matching `re` (from now on). */
  next(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolve once stdout, from the start, matches `re` (already or later). */
  seen(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

export async function startBridgeProcess(configFile: string): Promise<BridgeProcess> {
  const child = spawnTracked(process.execPath, [BIN, 'bridge', '--config', configFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const m = await waitForOutput(child, /precheck bridge listening on (http:\/\/\S+)/, { stream: 'stderr', timeoutMs: 90_000 });
  return {
    child,
    url: m[1],
    log: () => out,
    next: (re, timeoutMs = 90_000) => waitForOutput(child, re, { stream: 'stdout', timeoutMs }),
    // `out` holds every chunk so far (its listener was registered first)
    seen: (re, timeoutMs = 90_000) => waitForOutput(child, re, { stream: 'stdout', timeoutMs, already: out }),
    stop: () => killAndWait(child, 5_000),
    kill9: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGKILL');
      await done;
    },
  };
}

export function writeConfig(file: string, config: unknown): string {
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export interface SyncRun extends RunResult {
  report: { exitCode: number; results: { device: string; kind: string; result: string; from: number; to: number; via?: string; resumedFrom?: number; code?: string; error?: string; bytesSent: number }[]; service: { code?: string; error?: string } } | null;
}

/** `precheck sync ARGS` as its own process (like a cron job); parses the --json report when asked. */
export async function precheckSync(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<SyncRun> {
  const r = await run(process.execPath, [BIN, 'sync', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeoutMs });
  let report: SyncRun['report'] = null;
  if (args.includes('--json')) {
    try {
      report = JSON.parse(r.stdout);
    } catch {
      report = null;
    }
  }
  return { ...r, report };
}

/** Luhn-valid 16-digit test numbers derived from a seed (kept in memory, never written). */
export function testPans(count: number, seed: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const body = `4000${String(seed * 1_000_000 + i * 7 + 1).padStart(11, '0')}`.slice(0, 15);
    let sum = 0;
    for (let k = 0; k < 15; k++) {
      let d = Number(body[14 - k]);
      if (k % 2 === 0) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    out.push(body + String((10 - (sum % 10)) % 10));
  }
  return out;
}

/**
 * Pairs devices once, as `precheck pair` does, before their links go to a bridge process. On a
 * loaded machine a device's first INFO answer can come after the request timeout: its cable is
 * reconnected every 500 ms and a missed RS485 address rescanned from 500 ms, so such a device is
 * attached late instead of missed for good (with reconnect off, the wait could only time out).
 */
export async function pairDevicesOnce(config: unknown, ids: readonly string[], ms = 120_000): Promise<void> {
  const c = validateConfig(config);
  const registry = createDeviceRegistry(c, PinStore.open(c.dataDir), { statusIntervalMs: 0, reconnectMs: 500, rs485Rescan: { minMs: 500, maxMs: 2_000 } });
  const missing = (): string[] => ids.filter((id) => !registry.get(id));
  await registry.start();
  try {
    const deadline = Date.now() + ms;
    while (missing().length > 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`not attached within ${ms} ms: ${missing().join(', ')}`);
      await onceEvent(registry, 'attached', left).catch(() => undefined);
    }
    for (const id of ids) await registry.pair(id, async () => true);
  } finally {
    await registry.stop();
  }
}
