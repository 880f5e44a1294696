// The architecture's one-way dependencies (docs/architecture.md): device/ and host-bridge/ import
// only protocol/ and contracts/ of ours, never each other; server/ imports neither; contracts/ (the
// bridge ↔ service bodies, limits, currency table and PAN guard) sits above protocol/ and below the
// parts, importing protocol/ only; protocol/ imports none of them.
// Shared link I/O (paced writer, RTU receiver, cable codecs, link errors) lives in
// protocol/link-io/ for that reason.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Imports of another part that are known and owned by someone else (to be removed by them). */
const KNOWN_EXCEPTIONS = new Set<string>([]);

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(rel));
    else if (entry.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Repo-relative targets of every relative static, side-effect or dynamic import in a file. */
export function relativeImports(file: string, source: string): string[] {
  const specifiers: string[] = [];
  const patterns = [
    /\bfrom\s+['"]([^'"]+)['"]/g,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) specifiers.push(m[1]!);
  return specifiers
    .filter((s) => s.startsWith('.'))
    .map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
}

function violations(part: string, forbidden: string[]): string[] {
  const found: string[] = [];
  for (const file of tsFiles(part)) {
    const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
    for (const target of relativeImports(file, source)) {
      const top = target.split('/')[0]!;
      if (!forbidden.includes(top)) continue;
      const edge = `${file} -> ${target}`;
      if (!KNOWN_EXCEPTIONS.has(edge)) found.push(edge);
    }
  }
  return found;
}

describe('layering', () => {
  it('finds imports the way the checks below rely on', () => {
    const src = [
      "import { a } from '../../device/links/x.ts';",
      "import type { B } from '../devices/types.ts';",
      "import './side-effect.ts';",
      "const m = await import('../../server/start.ts');",
    ].join('\n');
    expect(relativeImports('host-bridge/transports/t.ts', src)).toEqual([
      'device/links/x.ts',
      'host-bridge/devices/types.ts',
      'host-bridge/transports/side-effect.ts',
      'server/start.ts',
    ]);
  });

  it('host-bridge/ imports nothing from device/', () => {
    expect(violations('host-bridge', ['device'])).toEqual([]);
  });

  it('device/ imports nothing from host-bridge/ or server/', () => {
    expect(violations('device', ['host-bridge', 'server'])).toEqual([]);
  });

  it('server/ imports nothing from device/ or host-bridge/', () => {
    expect(violations('server', ['device', 'host-bridge'])).toEqual([]);
  });

  it('protocol/ imports none of the parts, nor contracts/', () => {
    expect(violations('protocol', ['device', 'host-bridge', 'server', 'bin', 'contracts'])).toEqual([]);
  });

  it('contracts/ imports protocol/ only', () => {
    expect(fs.existsSync(path.join(ROOT, 'contracts'))).toBe(true);
    expect(violations('contracts', ['device', 'host-bridge', 'server', 'bin', 'test', 'bench'])).toEqual([]);
  });

  it('one currency table and one PAN guard: no second copy in the parts', () => {
    expect(fs.existsSync(path.join(ROOT, 'host-bridge/money.ts'))).toBe(false);
    expect(fs.existsSync(path.join(ROOT, 'server/pan-guard.ts'))).toBe(false);
    const copies: string[] = [];
    for (const part of ['device', 'host-bridge', 'server']) {
      for (const file of tsFiles(part)) {
        const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
        // An exponent read from Intl, or a hand-written Luhn, would be a second table / guard.
        if (/resolvedOptions\(\)\.maximumFractionDigits/.test(source) || /export function luhnValid/.test(source)) copies.push(file);
      }
    }
    expect(copies).toEqual([]);
  });

  it('the shared link I/O lives in protocol/link-io/, not under device/', () => {
    expect(fs.existsSync(path.join(ROOT, 'device/links/common'))).toBe(false);
    for (const name of [
      'paced-serial-writer.ts',
      'rtu-stream-receiver.ts',
      'serial-port.ts',
      'ble-cable-record.ts',
      'link-errors.ts',
      'usb-ids.ts',
      'socket-writer.ts',
      'fixed-report-splitter.ts',
    ]) {
      expect(fs.existsSync(path.join(ROOT, 'protocol/link-io', name)), name).toBe(true);
    }
  });
});
