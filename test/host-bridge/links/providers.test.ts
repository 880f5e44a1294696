// Link providers (host-bridge/links/): one per link kind, registered in one table, and the
// registry holds no per-link code — so a link kind is one provider module plus its table line.
// Shown with the BLE cable: only the table imports its provider, and a registry given that
// provider alone finds, pairs and verifies a device over the cable.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINK_KINDS } from '../../../protocol/link-kind.ts';
import { LINK_PROVIDERS } from '../../../host-bridge/links/table.ts';
import { bleCable } from '../../../host-bridge/links/ble-cable.ts';
import { createDeviceRegistry, type DeviceRegistryImpl } from '../../../host-bridge/discovery/registry.ts';
import { PinStore } from '../../../host-bridge/session/pin-store.ts';
import { makeTempDir, type TempDir } from '../../../testkit/tmp.ts';
import { CARDS, bridgeConfig, order, provisionDevice, pushDataset, serviceKeys, testDataset } from '../../integration/fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const PRODUCT = ['protocol', 'rules', 'link-io', 'contracts', 'errors', 'runtime', 'device', 'host-bridge', 'server', 'tools', 'cli'];

function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/')));
}

/** Repo-relative targets of the relative imports (static and dynamic) of a file. */
function importsOf(file: string): string[] {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const specs = [...src.matchAll(/\bfrom\s+['"](\.[^'"]+)['"]|\bimport\(\s*['"](\.[^'"]+)['"]\s*\)|^\s*import\s+['"](\.[^'"]+)['"]/gm)].map((m) => m[1] ?? m[2] ?? m[3]!);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
}

describe('link providers', () => {
  it('one provider per link kind, in one table; the kinds have one home (protocol/link-kind.ts)', () => {
    expect(LINK_PROVIDERS.map((p) => p.kind).sort()).toEqual([...LINK_KINDS].sort());
    // no second copy of the union (as a type or a list) anywhere in the product
    const copy = /'(usb|rs485|ble|hid-cable|ble-cable)'(\s*[|,]\s*'(usb|rs485|ble|hid-cable|ble-cable)'){4}/;
    const copies = PRODUCT.flatMap(tsFiles).filter((f) => f !== 'protocol/link-kind.ts' && copy.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(copies).toEqual([]);
  });

  it('the registry knows no link: discovery/ names no link kind and opens no transport', () => {
    for (const f of tsFiles('host-bridge/discovery')) {
      const src = fs.readFileSync(path.join(ROOT, f), 'utf8');
      for (const kind of LINK_KINDS) expect(src, `${f} names '${kind}'`).not.toContain(`'${kind}'`);
      expect(importsOf(f).filter((t) => t.startsWith('host-bridge/transports/')), f).toEqual([]);
    }
  });

  it('the BLE cable provider is self-contained: the table is the only file that imports it', () => {
    const importers = PRODUCT.flatMap(tsFiles).filter((f) => importsOf(f).includes('host-bridge/links/ble-cable.ts'));
    expect(importers).toEqual(['host-bridge/links/table.ts']);
    // and it needs nothing of the bridge but the provider contract, the shared socket-cable
    // lifecycle and its transport
    expect(importsOf('host-bridge/links/ble-cable.ts').sort()).toEqual(['host-bridge/links/provider.ts', 'host-bridge/links/socket-cable.ts', 'host-bridge/session/exchange.ts', 'host-bridge/transports/ble-cable-transport.ts']);
  });

  describe('a registry with the BLE cable provider alone', () => {
    let tmp: TempDir;
    let registry: DeviceRegistryImpl | undefined;
    let emu: { close(): Promise<void>; devices: { deviceId: string }[] } | undefined;
    const keys = serviceKeys();

    beforeAll(() => {
      tmp = makeTempDir('pc-prov-');
    });
    afterAll(async () => {
      await registry?.stop();
      await emu?.close();
      tmp?.cleanup();
    });

    it('finds, pairs and verifies over the cable; the other configured cable is not looked at', async () => {
      const { startEmulator } = await import('../../../device/emulator/emulate.ts');
      await provisionDevice(tmp.file('dev'), keys);
      emu = await startEmulator({ dataDir: tmp.file('dev'), bleSocket: tmp.file('b.sock'), autoConfirm: true, out: () => undefined });
      const id = emu.devices[0]!.deviceId;
      const config = bridgeConfig(tmp.file('bridge'), { cables: { bleSocket: tmp.file('b.sock'), hidSocket: tmp.file('h.sock') } });
      registry = createDeviceRegistry(config, PinStore.open(tmp.file('bridge')), { statusIntervalMs: 0, reconnectMs: 0, providers: [bleCable] });
      await registry.start();
      expect(registry.sources()).toEqual([{ kind: 'ble-cable', target: tmp.file('b.sock'), state: 'connected', devices: 1 }]);
      expect(registry.links()).toEqual([{ id, link: 'ble-cable', address: expect.stringContaining(tmp.file('b.sock')), active: true }]);
      await registry.pair(id, async () => true);
      const h = registry.get(id)!;
      expect(await pushDataset(h, testDataset(keys))).toBe(1);
      expect(await h.verify(order(CARDS.knownGood))).toMatchObject({ decision: 'approve' });
    });
  });
});
