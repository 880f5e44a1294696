// Shared pieces of the host <-> device integration tests: provisioning through the real CLI, the
// emulator as a real child process (waiting on its stdout lines), a signed test dataset covering
// every local decision path, and pushing it through the secure channel's SYNC messages.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSnapshot, cardToken, generateSigningKeyPair, type BuiltRelease, type DatasetContent } from '../../protocol/dataset/index.ts';
import { validateConfig, type BridgeConfig } from '../../host-bridge/config.ts';
import type { SecureDeviceClient } from '../../host-bridge/session/secure-client.ts';
import { expect } from 'vitest';
import { ProtocolError } from '../../protocol/errors.ts';
import { killAndWait, run, spawnTracked, waitForOutput } from '../../testkit/process.ts';
import { withTimeout } from '../../testkit/wait.ts';
import { randomBytes } from 'node:crypto';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/precheck.js');

/** Luhn-valid test numbers, one per decision path. Never written to disk by the tests. */
export const CARDS = {
  knownGood: '4242424242424242',
  restricted: '4111111111111111',
  softDecline: '5555555555554444',
  unknown: '4012888888881881',
} as const;

export function order(pan: string) {
  return { pan, expMonth: 12, expYear: new Date().getFullYear() + 3, amount: 2500, currency: 'EUR', country: 'DE' };
}

/** The code of the ProtocolError `p` rejects with; fails the test if it resolves, throws anything else or takes over `ms`. */
export async function failureCode(p: Promise<unknown>, label = 'the request to fail', ms = 30_000): Promise<string> {
  const e = await withTimeout(
    p.then(
      () => null,
      (err: unknown) => err,
    ),
    ms,
    label,
  );
  expect(e).toBeInstanceOf(ProtocolError);
  return (e as ProtocolError).code;
}

export interface ServiceKeys {
  signing: { publicKey: Uint8Array; privateKey: Uint8Array };
  cardKey: Uint8Array;
}

export function serviceKeys(): ServiceKeys {
  return { signing: generateSigningKeyPair(), cardKey: new Uint8Array(randomBytes(32)) };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** `precheck device provision` through the real CLI. Returns the device id. */
export async function provisionDevice(dataDir: string, keys: ServiceKeys, deviceId?: string): Promise<{ deviceId: string; staticKey: string }> {
  const args = [BIN, 'device', 'provision', '--data', dataDir, '--server-key', hex(keys.signing.publicKey), '--card-key', hex(keys.cardKey)];
  if (deviceId) args.push('--device-id', deviceId);
  const r = await run(process.execPath, args, { cwd: ROOT, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`provision failed (${r.code}): ${r.stderr}`);
  const m = /provisioned (pc-[0-9a-f]{12}) data .* static-key ([0-9a-f]{64})/.exec(r.stdout);
  if (!m) throw new Error(`unexpected provision output: ${r.stdout}`);
  return { deviceId: m[1], staticKey: m[2] };
}

export interface Emulator {
  child: ChildProcess;
  /** stdout so far */
  output(): string;
  ids: string[];
  stop(): Promise<void>;
}

/** Start `precheck device emulate ARGS` and wait for its "ready" line. */
export async function startEmulator(args: string[], opts: { readyTimeoutMs?: number } = {}): Promise<Emulator> {
  const child = spawnTracked(process.execPath, [BIN, 'device', 'emulate', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  try {
    await waitForOutput(child, /precheck-device: ready/, { stream: 'stdout', timeoutMs: opts.readyTimeoutMs ?? 30_000 });
  } catch (e) {
    await killAndWait(child);
    throw new Error(`emulator did not start: ${(e as Error).message}\nstderr: ${err}`);
  }
  const ids = [...out.matchAll(/precheck-device: device (pc-[0-9a-f]{12})/g)].map((m) => m[1]);
  return { child, output: () => out, ids, stop: () => killAndWait(child) };
}

/** A dataset with one card per decision path, signed with the test service key. */
export function testDataset(keys: ServiceKeys, version = 1): BuiltRelease {
  const now = Math.floor(Date.now() / 1000);
  const content: DatasetContent = {
    restricted: [{ token: cardToken(keys.cardKey, CARDS.restricted), reason: 'stolen' }],
    knownGood: [{ token: cardToken(keys.cardKey, CARDS.knownGood) }],
    history: [
      {
        token: cardToken(keys.cardKey, CARDS.softDecline),
        brand: 'mastercard',
        // 51 (funds) is reviewed for orders of at least the declined amount (order() asks 2500)
        events: [{ at: now - 3600, amount: 2000, currency: 'EUR', status: 'failure', code: '51', type: 'soft' }],
      },
    ],
    binRules: [],
    prompts: [],
    routes: [],
  };
  return buildSnapshot(content, { version, createdAt: now - 60, expiresAt: now + 7 * 86400, chunkSize: 256 }, keys.signing.privateKey);
}

/** SYNC_BEGIN / SYNC_CHUNK... / SYNC_COMMIT through the secure channel. */
export async function pushDataset(client: SecureDeviceClient, rel: BuiltRelease): Promise<number> {
  let st = await client.syncBegin(rel.manifestBytes);
  while (st.nextChunk < st.totalChunks) st = await client.syncChunk(st.version, st.nextChunk, rel.chunks[st.nextChunk]);
  return client.syncCommit(rel.manifest.version);
}

export function bridgeConfig(dataDir: string, devices: Record<string, unknown>): BridgeConfig {
  return validateConfig({ dataDir, verify: { deviceTimeoutMs: 3000 }, devices });
}
