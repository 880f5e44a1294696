// The architecture's one-way dependencies, checked for every folder edge (static, side-effect and
// dynamic imports alike). docs/architecture.md lists the same table; a new top-level folder fails
// the test until it is placed in a layer here.
//   errors/               the error catalogue and PrecheckError, imports nothing of ours
//   protocol/             pure wire core, on errors/ only
//   rules/ link-io/ contracts/           shared policy, node link I/O, bridge↔service contract
//   runtime/              process facts shared by the long-running parts (data dirs, version, metrics)
//   device/ host-bridge/ server/         the three parts, side by side: none imports another
//   tools/                `precheck up` and the simulator: the only code that composes the parts
//   cli/                  the command root and its registrar table; bin/ starts it; nothing imports either
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Imports of another part that are known and owned by someone else (to be removed by them). */
const KNOWN_EXCEPTIONS = new Set<string>([]);

/** Which top-level folders each folder may import (relative imports; test/ and bench/ are free; only they import testkit/). */
const ALLOWED: Record<string, string[]> = {
  protocol: ['errors'],
  rules: ['protocol', 'contracts'],
  'link-io': ['protocol', 'errors'],
  contracts: ['protocol', 'errors'],
  errors: [],
  runtime: ['errors'],
  device: ['protocol', 'rules', 'link-io', 'errors', 'runtime'],
  'host-bridge': ['protocol', 'rules', 'link-io', 'contracts', 'errors', 'runtime'],
  server: ['protocol', 'rules', 'contracts', 'errors', 'runtime'],
  tools: ['protocol', 'rules', 'link-io', 'contracts', 'errors', 'runtime', 'device', 'host-bridge', 'server'],
  cli: ['protocol', 'rules', 'link-io', 'contracts', 'errors', 'runtime', 'device', 'host-bridge', 'server', 'tools'],
  bin: ['cli'],
  // what test/ and bench/ share (temp dirs, pty pairs, child processes, waits, synthetic cards)
  testkit: ['protocol', 'contracts'],
};

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(rel));
    else if (/\.(ts|js)$/.test(entry.name)) out.push(rel);
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

  it('every top-level folder of product code has a place in the layer table', () => {
    const dirs = fs
      .readdirSync(ROOT, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !['node_modules', 'test', 'bench', 'docs', 'deploy', 'dist', 'testkit'].includes(e.name))
      .map((e) => e.name)
      .filter((d) => tsFiles(d).length > 0 || fs.readdirSync(path.join(ROOT, d)).some((n) => n.endsWith('.js')));
    expect(dirs.filter((d) => !(d in ALLOWED)).sort()).toEqual([]);
  });

  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    it(`${folder}/ imports only ${allowed.length ? allowed.join(', ') : 'nothing of ours'}`, () => {
      const others = [...Object.keys(ALLOWED), 'test', 'bench', 'testkit'].filter((d) => d !== folder && !allowed.includes(d));
      expect(violations(folder, others)).toEqual([]);
    });
  }

  it('nothing imports cli/ or bin/ but bin/ itself, and no product folder imports test/ or bench/', () => {
    for (const folder of Object.keys(ALLOWED)) if (folder !== 'bin') expect(ALLOWED[folder]).not.toContain('bin');
    for (const folder of Object.keys(ALLOWED)) if (folder !== 'bin') expect(ALLOWED[folder]).not.toContain('cli');
    expect(violations('test', ['bin']).filter((e) => !e.endsWith('bin/precheck.js'))).toEqual([]);
  });

  it('docs/architecture.md lists the same table', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    for (const [folder, allowed] of Object.entries(ALLOWED)) {
      const line = `| \`${folder}/\` | ${allowed.length ? allowed.map((a) => `\`${a}/\``).join(', ') : '—'} |`;
      expect(doc, `docs/architecture.md should have the row: ${line}`).toContain(line);
    }
  });

  it('one currency table and one PAN guard: no second copy in the parts', () => {
    expect(fs.existsSync(path.join(ROOT, 'host-bridge/money.ts'))).toBe(false);
    expect(fs.existsSync(path.join(ROOT, 'server/pan-guard.ts'))).toBe(false);
    const copies: string[] = [];
    for (const part of ['rules', 'device', 'host-bridge', 'server', 'tools', 'testkit']) {
      for (const file of tsFiles(part)) {
        const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
        // An exponent read from Intl or the currency-codes package, or a hand-written Luhn, would be
        // a second table / guard.
        if (/resolvedOptions\(\)\.maximumFractionDigits|from 'currency-codes'|export function luhn(Valid|CheckDigit|Complete)/.test(source)) copies.push(file);
      }
    }
    expect(copies).toEqual([]);
  });

  it('the shared link I/O lives in link-io/, not under device/', () => {
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
      expect(fs.existsSync(path.join(ROOT, 'link-io/', name)), name).toBe(true);
    }
  });
});
