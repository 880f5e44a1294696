// VoiceXML 2.1 documents of the phone-capture flow, built as text. Every field carries an inline
// SRGS 1.0 DTMF grammar (W3C speech grammar, XML form) so any VoiceXML platform can collect the
// digits without speech recognition; values go back with <submit method="post"> (never in a URL,
// which platforms and proxies log). Every document catches a hang-up and reports it.

export const VXML_CONTENT_TYPE = 'application/voicexml+xml; charset=utf-8';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** An SRGS DTMF grammar accepting min..max digits (the termchar # ends entry early). */
export function digitsGrammar(min: number, max: number): string {
  const digits = '0123456789'
    .split('')
    .map((d) => `<item>${d}</item>`)
    .join('');
  return (
    `<grammar mode="dtmf" version="1.0" root="digits" xmlns="http://www.w3.org/2001/06/grammar">` +
    `<rule id="digits" scope="public"><item repeat="${min}-${max}"><one-of>${digits}</one-of></item></rule></grammar>`
  );
}

export interface FieldSpec {
  name: string;
  prompt: string;
  /** Spoken first, before the prompt (e.g. why the last entry was refused). */
  notice?: string;
  min: number;
  max: number;
  noMatch: string;
  noInput: string;
  /** Where to submit the value (relative to the document). */
  next: string;
  /** After this many no-inputs the call goes to `timeoutNext`. */
  maxNoInput: number;
  timeoutNext: string;
}

export interface DocOptions {
  lang: string;
  /** Where a hang-up is reported. */
  hangupNext: string;
}

function doc(o: DocOptions, body: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml" xml:lang="${esc(o.lang)}">\n` +
    `<catch event="connection.disconnect.hangup"><submit next="${esc(o.hangupNext)}" method="post"/></catch>\n` +
    `${body}\n</vxml>\n`
  );
}

/** One field, submitted on its own so the server can check it (Luhn, expiry) and re-prompt. */
export function fieldDocument(o: DocOptions, f: FieldSpec): string {
  return doc(
    o,
    `<form id="${esc(f.name)}">\n` +
      `<property name="termchar" value="#"/>\n` +
      `<property name="interdigittimeout" value="5s"/>\n` +
      `<property name="timeout" value="8s"/>\n` +
      `<field name="${esc(f.name)}">\n` +
      digitsGrammar(f.min, f.max) +
      '\n' +
      `<prompt>${f.notice ? `${esc(f.notice)} ` : ''}${esc(f.prompt)}</prompt>\n` +
      `<nomatch><prompt>${esc(f.noMatch)}</prompt><reprompt/></nomatch>\n` +
      `<noinput count="1"><prompt>${esc(f.noInput)}</prompt><reprompt/></noinput>\n` +
      `<noinput count="${f.maxNoInput}"><submit next="${esc(f.timeoutNext)}" method="post"/></noinput>\n` +
      `<filled><submit next="${esc(f.next)}" method="post" namelist="${esc(f.name)}"/></filled>\n` +
      `</field>\n</form>`,
  );
}

export interface MenuChoice {
  dtmf: string;
  next: string;
}

/** A DTMF menu (its grammar is implied by the choices, per VoiceXML 2.1 §2.2). */
export function menuDocument(o: DocOptions, m: { id: string; prompt: string; choices: MenuChoice[]; noInput: string; noMatch: string; timeoutNext: string; maxNoInput: number }): string {
  return doc(
    o,
    `<menu id="${esc(m.id)}" dtmf="false">\n` +
      `<property name="timeout" value="8s"/>\n` +
      `<prompt>${esc(m.prompt)}</prompt>\n` +
      m.choices.map((c) => `<choice dtmf="${esc(c.dtmf)}" next="${esc(c.next)}"/>`).join('\n') +
      '\n' +
      `<nomatch><prompt>${esc(m.noMatch)}</prompt><reprompt/></nomatch>\n` +
      `<noinput count="1"><prompt>${esc(m.noInput)}</prompt><reprompt/></noinput>\n` +
      `<noinput count="${m.maxNoInput}"><goto next="${esc(m.timeoutNext)}"/></noinput>\n` +
      `</menu>`,
  );
}

/** Says the text, then either hangs up or goes on to `next`. */
export function sayDocument(o: DocOptions, text: string[], then: { next: string } | 'disconnect'): string {
  const prompts = text.map((t) => `<prompt>${esc(t)}</prompt>`).join('\n');
  return doc(o, `<form id="say">\n<block>\n${prompts}\n${then === 'disconnect' ? '<disconnect/>' : `<goto next="${esc(then.next)}"/>`}\n</block>\n</form>`);
}
