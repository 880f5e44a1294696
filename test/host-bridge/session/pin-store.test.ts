import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../protocol/errors.ts';
import { PinStore, PIN_FILE } from '../../../host-bridge/session/pin-store.ts';
import { makeTempDir, type TempDir } from '../../../testkit/tmp.ts';

describe('PinStore', () => {
  let tmp: TempDir;
  afterEach(() => tmp.cleanup());

  it('creates a host key pair once, keeps pins across reopen, file 0600 in a 0700 dir', () => {
    tmp = makeTempDir('precheck-pins-');
    const dir = path.join(tmp.dir, 'bridge');
    const a = PinStore.open(dir);
    const key = new Uint8Array(32).fill(9);
    a.pin('pc-aaaaaaaaaaaa', { staticKey: key, link: 'rs485', address: 'rs485:/dev/ttyUSB0#3', pairedAt: 1700000000 });
    const b = PinStore.open(dir);
    expect(Buffer.from(b.hostKeyPair().publicKey)).toEqual(Buffer.from(a.hostKeyPair().publicKey));
    expect(b.get('pc-aaaaaaaaaaaa')).toEqual({ deviceId: 'pc-aaaaaaaaaaaa', staticKey: key, link: 'rs485', address: 'rs485:/dev/ttyUSB0#3', pairedAt: 1700000000 });
    expect(fs.statSync(path.join(dir, PIN_FILE)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(b.unpin('pc-aaaaaaaaaaaa')).toBe(true);
    expect(PinStore.open(dir).list()).toEqual([]);
    // no temp files left behind
    expect(fs.readdirSync(dir)).toEqual([PIN_FILE]);
  });

  it('a corrupt or foreign file is a typed error, never silently replaced', () => {
    tmp = makeTempDir('precheck-pins-');
    fs.writeFileSync(path.join(tmp.dir, PIN_FILE), '{not json');
    expect(() => PinStore.open(tmp.dir)).toThrow(ProtocolError);
    fs.writeFileSync(path.join(tmp.dir, PIN_FILE), JSON.stringify({ format: 1, host: { publicKey: 'zz', privateKey: '00' }, devices: {} }));
    expect(() => PinStore.open(tmp.dir)).toThrow(/not 32 hex bytes/);
    expect(fs.readFileSync(path.join(tmp.dir, PIN_FILE), 'utf8')).toContain('zz');
  });
});
