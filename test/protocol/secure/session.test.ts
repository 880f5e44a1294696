import { describe, expect, it } from 'vitest';
import {
  HOST_HINT_LENGTH,
  SessionInitiator,
  SessionResponder,
  generateStaticKeyPair,
  hostHint,
  type StaticKeyPair,
} from '../../../protocol/secure/index.ts';
import { expectProtocolError, text, utf8 } from './helpers.ts';

function setup(paired: (host: StaticKeyPair) => Uint8Array[]) {
  const host = generateStaticKeyPair();
  const device = generateStaticKeyPair();
  const others = Array.from({ length: 5 }, () => generateStaticKeyPair().publicKey);
  const hostSide = new SessionInitiator({ staticKeyPair: host, deviceStatic: device.publicKey });
  const deviceSide = new SessionResponder({
    staticKeyPair: device,
    pairedHosts: () => [...others, ...paired(host)],
  });
  return { host, device, hostSide, deviceSide };
}

describe('sessions (Noise KK)', () => {
  it('opens a session among several paired hosts, with working channels', () => {
    const { host, device, hostSide, deviceSide } = setup((h) => [h.publicKey]);
    const init = hostSide.init(utf8('hello'));
    expect(Buffer.from(init.subarray(0, HOST_HINT_LENGTH)).equals(hostHint(host.publicKey))).toBe(true);
    const resp = deviceSide.respond(init, utf8('ready'));
    const h = hostSide.finish(resp);
    const d = deviceSide.result;
    expect(text(d.remotePayload)).toBe('hello');
    expect(text(h.remotePayload)).toBe('ready');
    expect(Buffer.from(h.remoteStatic).equals(device.publicKey)).toBe(true);
    expect(Buffer.from(d.remoteStatic).equals(host.publicKey)).toBe(true);
    expect(Buffer.from(h.handshakeHash).equals(d.handshakeHash)).toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(text(d.channel.open(h.channel.seal(utf8(`q${i}`))))).toBe(`q${i}`);
      expect(text(h.channel.open(d.channel.seal(utf8(`a${i}`))))).toBe(`a${i}`);
    }
  });

  it('gives each session fresh keys', () => {
    const host = generateStaticKeyPair();
    const device = generateStaticKeyPair();
    const run = () => {
      const hi = new SessionInitiator({ staticKeyPair: host, deviceStatic: device.publicKey });
      const dr = new SessionResponder({ staticKeyPair: device, pairedHosts: () => [host.publicKey] });
      return hi.finish(dr.respond(hi.init()));
    };
    const a = run();
    const b = run();
    expect(Buffer.from(a.handshakeHash).equals(b.handshakeHash)).toBe(false);
    // A message sealed in one session does not open in the next.
    expectProtocolError(() => b.channel.open(a.channel.seal(utf8('old'))), 'DECRYPT_FAILED');
  });

  it('refuses an unpaired host with NOT_PAIRED', () => {
    const { hostSide, deviceSide } = setup(() => []);
    expectProtocolError(() => deviceSide.respond(hostSide.init()), 'NOT_PAIRED');
    expectProtocolError(() => deviceSide.result, 'NO_SESSION');
  });

  it('fails on both sides when the device is not the pinned one', () => {
    const host = generateStaticKeyPair();
    const pinned = generateStaticKeyPair();
    const impostor = generateStaticKeyPair();
    const hi = new SessionInitiator({ staticKeyPair: host, deviceStatic: pinned.publicKey });
    const init = hi.init();
    // The impostor knows the host's public key (it is not secret) but not the pinned private key.
    const dr = new SessionResponder({ staticKeyPair: impostor, pairedHosts: () => [host.publicKey] });
    expectProtocolError(() => dr.respond(init), 'HANDSHAKE_FAILED');
    // Whatever the impostor answers, the host refuses it as an identity mismatch: here a valid
    // KK reply from a session the impostor runs with its own key.
    const other = new SessionInitiator({ staticKeyPair: host, deviceStatic: impostor.publicKey });
    const dr2 = new SessionResponder({ staticKeyPair: impostor, pairedHosts: () => [host.publicKey] });
    const forgedReply = dr2.respond(other.init());
    expectProtocolError(() => hi.finish(forgedReply), 'IDENTITY_MISMATCH');
    expectProtocolError(() => hi.result, 'NO_SESSION');
  });

  it('refuses a hint-matching but forged or truncated SESSION_INIT', () => {
    const { hostSide, deviceSide } = setup((h) => [h.publicKey]);
    const init = hostSide.init();
    const bad = Uint8Array.from(init);
    bad[bad.length - 1] ^= 0x80;
    expectProtocolError(() => deviceSide.respond(bad), 'HANDSHAKE_FAILED');
    expectProtocolError(() => deviceSide.respond(init.subarray(0, 20)), 'MALFORMED');
    // The responder was not consumed by the failures: the genuine message still works.
    const resp = deviceSide.respond(init);
    expect(hostSide.finish(resp).channel).toBeDefined();
  });
});
