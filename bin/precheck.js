#!/usr/bin/env node
// Entry point. Registers tsx so the TypeScript sources run without a build step, then hands over
// to the CLI root (which loads each command's module lazily).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/program.ts');
await main(process.argv);
