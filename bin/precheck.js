#!/usr/bin/env node
// Entry point: runs the built product (dist/, compiled by `npm run build`; `npm ci`, `npm install`,
// `npm start` and `npm test` build it) with plain node — no TypeScript loader at run time.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('precheck: the built product (dist/) is missing; run `npm run build` (npm ci does it)\n');
  process.exit(1);
}
await import(entry.href);
