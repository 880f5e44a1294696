#!/usr/bin/env node
// Builds dist/, the JavaScript the product runs (bin/precheck.js), from the TypeScript sources:
// tsc with tsconfig.build.json (relative `.ts` imports become `.js`), plus dist/package.json
// (name, version, "type": "module"), so a copy of dist/ next to node_modules runs anywhere.
// `npm ci`/`npm install` (prepare), `npm start` (prestart) and the test setup run it.
//
// Never stale: dist/.source-hash is a hash of every source file, the tsconfigs, package.json and
// the compiler's version; the build is skipped only when it matches. A build goes to a fresh
// folder first and replaces dist/ in one rename, so no file of an older build survives and a
// process starting meanwhile sees the old tree or the new one, never half of each.
//   node scripts/build.mjs            build when the sources changed
//   node scripts/build.mjs --force    build anyway
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const STAMP = '.source-hash';
const CONFIG = 'tsconfig.build.json';

function die(msg) {
  process.stderr.write(`build: ${msg}\n`);
  process.exit(1);
}

function files(dir) {
  const out = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(rel));
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

let tscPackage;
try {
  tscPackage = createRequire(path.join(ROOT, 'package.json')).resolve('typescript/package.json');
} catch {
  // `npm ci --omit=dev` has no compiler: a dist/ already built (deploy/install.sh builds before
  // pruning) is what runs.
  if (fs.existsSync(path.join(DIST, 'cli', 'main.js'))) {
    process.stderr.write('build: typescript is not installed; keeping the existing dist/\n');
    process.exit(0);
  }
  die('typescript is not installed (npm ci installs it); dist/ cannot be built');
}

const config = JSON.parse(fs.readFileSync(path.join(ROOT, CONFIG), 'utf8'));
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const hash = createHash('sha256');
hash.update(`typescript ${JSON.parse(fs.readFileSync(tscPackage, 'utf8')).version}\0`);
for (const f of ['package.json', 'tsconfig.json', CONFIG, ...config.include.flatMap(files).sort()]) {
  hash.update(`${f}\0`).update(fs.readFileSync(path.join(ROOT, f))).update('\0');
}
const digest = hash.digest('hex');
const current = (() => {
  try {
    return fs.readFileSync(path.join(DIST, STAMP), 'utf8');
  } catch {
    return null;
  }
})();
if (current === digest && !process.argv.includes('--force')) process.exit(0);

const tmp = path.join(ROOT, `.dist-${process.pid}`);
fs.rmSync(tmp, { recursive: true, force: true });
const tsc = path.join(path.dirname(tscPackage), 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, CONFIG), '--outDir', tmp], { stdio: 'inherit' });
if (r.status !== 0) {
  fs.rmSync(tmp, { recursive: true, force: true });
  die(`tsc failed (exit ${r.status ?? r.signal})`);
}
fs.writeFileSync(path.join(tmp, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: 'module' }, null, 2)}\n`);
fs.writeFileSync(path.join(tmp, STAMP), digest);

// Swap: move the old tree aside, the new one in, then remove the old one. Another build of the
// same sources racing this one may have swapped first; its tree is as good as ours.
const old = path.join(ROOT, `.dist-old-${process.pid}`);
try {
  fs.renameSync(DIST, old);
} catch (e) {
  if (e.code !== 'ENOENT') throw e;
}
try {
  fs.renameSync(tmp, DIST);
} catch (e) {
  if (!['ENOTEMPTY', 'EEXIST'].includes(e.code)) throw e;
  fs.rmSync(tmp, { recursive: true, force: true });
}
fs.rmSync(old, { recursive: true, force: true });
process.stderr.write(`build: dist/ built from the sources (${digest.slice(0, 12)})\n`);
