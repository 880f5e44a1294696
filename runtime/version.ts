import { readFileSync } from 'node:fs';

/** package.json's version (read once; the CLI has no build step to stamp it in). */
export function productVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
