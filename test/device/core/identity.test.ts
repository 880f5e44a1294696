import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { identityDir, loadIdentity, provision } from '../../../device/core/identity.ts';
import { publicFromPrivate } from '../../../protocol/secure/x25519.ts';
import { CARD_KEY, SIGNER, rmrf, tempDir } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(rmrf));

describe('device identity', () => {
  it('provisions secrets with mode 0600 in a 0700 directory', () => {
    const dir = path.join(tempDir(), 'data');
    dirs.push(path.dirname(dir));
    const id = provision(dir, { serverSigningPublicKey: SIGNER.publicKey });
    expect(id.deviceId).toMatch(/^pc-[0-9a-f]{12}$/);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(identityDir(dir)).mode & 0o777).toBe(0o700);
    const files = fs.readdirSync(identityDir(dir));
    expect(files.sort()).toEqual(['card.key', 'dataset-signing.pub', 'device-id', 'noise-static.key']);
    for (const f of files) expect(fs.statSync(path.join(identityDir(dir), f)).mode & 0o777, f).toBe(0o600);
    expect(id.cardKey.length).toBe(32);
    expect(Buffer.from(id.staticKeyPair.publicKey)).toEqual(Buffer.from(publicFromPrivate(id.staticKeyPair.privateKey)));
  });

  it('loads back exactly what was provisioned, and refuses to overwrite it', () => {
    const dir = tempDir();
    dirs.push(dir);
    const id = provision(dir, { serverSigningPublicKey: SIGNER.publicKey, cardKey: CARD_KEY, deviceId: 'pc-0123456789ab' });
    const back = loadIdentity(dir);
    expect(back).toEqual(id);
    expect(() => provision(dir, { serverSigningPublicKey: SIGNER.publicKey })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    expect(loadIdentity(dir).cardKey).toEqual(CARD_KEY);
  });

  it('validates inputs and reports a missing identity', () => {
    const dir = tempDir();
    dirs.push(dir);
    expect(() => provision(dir, { serverSigningPublicKey: new Uint8Array(31) })).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    expect(() => provision(dir, { serverSigningPublicKey: SIGNER.publicKey, deviceId: 'bad' })).toThrow(expect.objectContaining({ code: 'INVALID_FIELD' }));
    expect(() => loadIdentity(dir)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});
