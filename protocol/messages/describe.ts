// Renders the catalogue as the Markdown tables of docs/protocol.md, so the specification is
// generated from the same table the codec uses (a test checks the document matches).

import { CATALOGUE, RESPONSES, type MessageName } from './catalogue.ts';
import { describeType, type BodySchema } from './schema.ts';

const hex2 = (n: number) => `0x${n.toString(16).toUpperCase().padStart(2, '0')}`;
const esc = (s: string) => s.replace(/\|/g, '\\|');

function answeredBy(name: MessageName): string {
  const r = (RESPONSES as Record<string, readonly string[]>)[name];
  return r ? r.join(', ') : '';
}

function answers(name: MessageName): string[] {
  return Object.entries(RESPONSES)
    .filter(([, rs]) => (rs as readonly string[]).includes(name))
    .map(([q]) => q);
}

/** One-line-per-message overview table. */
export function renderMessageIndex(): string {
  const rows = (Object.keys(CATALOGUE) as MessageName[])
    .sort((a, b) => CATALOGUE[a].code - CATALOGUE[b].code)
    .map((n) => {
      const s = CATALOGUE[n];
      const rel = n === 'ERROR' ? 'answers any request' : answeredBy(n) ? `-> ${answeredBy(n)}` : answers(n).length ? `answers ${answers(n).join(', ')}` : '';
      return `| ${hex2(s.code)} | ${n} | ${s.scope} | ${rel} |`;
    });
  return ['| type | name | where | request/response |', '|---|---|---|---|', ...rows].join('\n');
}

function renderBody(b: BodySchema): string {
  if (b.fields.length === 0) return '_No fields._';
  const rows = b.fields.map(
    (f) => `| ${f.key} | ${f.name} | \`${esc(describeType(f.type))}\` | ${f.optional ? 'optional' : 'required'} | ${esc(f.doc ?? '')} |`,
  );
  return ['| key | field | type | presence | notes |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** A subsection per message: number, placement, purpose and the field table. */
export function renderMessageTables(): string {
  return (Object.keys(CATALOGUE) as MessageName[])
    .map((n) => {
      const s = CATALOGUE[n];
      return `#### ${hex2(s.code)} ${n} (${s.scope})\n\n${s.doc}\n\n${renderBody(s.body)}`;
    })
    .join('\n\n');
}
