// A scripted caller on a minimal VoiceXML 2.1 platform: fetches the documents over HTTP and
// interprets them the way a voice browser does — <menu>/<choice>, <form>/<field> with SRGS DTMF
// grammars (termchar #), <block>, <prompt>, <nomatch>/<noinput count=…> with <reprompt>, <filled>,
// <submit method namelist>, <goto>, <disconnect>, <exit>, and the document's
// connection.disconnect.hangup catch when the caller hangs up. The "human" answers each prompt
// from a script: keys, silence (no input → noinput) or a hang-up.

// ------------------------------------------------------------------ XML (well-formed subset)
export interface El {
  name: string;
  attrs: Record<string, string>;
  children: (El | string)[];
}

const ENT: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unent = (s: string) => s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => (e[0] === '#' ? String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)) : (ENT[e] ?? m)));

export function parseXml(text: string): El {
  let i = 0;
  const root: El = { name: '#root', attrs: {}, children: [] };
  const stack: El[] = [root];
  while (i < text.length) {
    if (text.startsWith('<?', i)) i = text.indexOf('?>', i) + 2;
    else if (text.startsWith('<!--', i)) i = text.indexOf('-->', i) + 3;
    else if (text.startsWith('</', i)) {
      const end = text.indexOf('>', i);
      const name = text.slice(i + 2, end).trim();
      const top = stack.pop()!;
      if (top.name !== name) throw new Error(`XML: </${name}> closes <${top.name}>`);
      i = end + 1;
    } else if (text[i] === '<') {
      const m = /^<([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(text.slice(i));
      if (!m) throw new Error(`XML: bad tag at ${i}`);
      const attrs: Record<string, string> = {};
      for (const a of m[2].matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attrs[a[1]] = unent(a[2] ?? a[3]);
      const el: El = { name: m[1], attrs, children: [] };
      stack.at(-1)!.children.push(el);
      if (!m[3]) stack.push(el);
      i += m[0].length;
    } else {
      const next = text.indexOf('<', i);
      const t = text.slice(i, next < 0 ? text.length : next);
      if (t.trim()) stack.at(-1)!.children.push(unent(t));
      i = next < 0 ? text.length : next;
    }
  }
  if (stack.length !== 1) throw new Error(`XML: <${stack.at(-1)!.name}> not closed`);
  const els = root.children.filter((c): c is El => typeof c !== 'string');
  if (els.length !== 1) throw new Error('XML: one root element expected');
  return els[0];
}

const kids = (e: El, name?: string) => e.children.filter((c): c is El => typeof c !== 'string' && (!name || c.name === name));
const textOf = (e: El): string => e.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('').replace(/\s+/g, ' ').trim();

// ------------------------------------------------------------------ SRGS DTMF grammar → RegExp
export function srgsToRegExp(grammar: El): RegExp {
  if (grammar.attrs.mode !== 'dtmf') throw new Error('only DTMF grammars are supported');
  const rules = new Map(kids(grammar, 'rule').map((r) => [r.attrs.id, r]));
  const root = rules.get(grammar.attrs.root);
  if (!root) throw new Error('grammar root rule missing');
  const seq = (e: El, depth: number): string => e.children.map((c) => (typeof c === 'string' ? c.trim().split(/\s+/).filter(Boolean).map(tok).join('') : node(c, depth))).join('');
  const tok = (t: string) => {
    if (!/^[0-9*#]$/.test(t)) throw new Error(`not a DTMF token: ${t}`);
    return t === '*' ? '\\*' : t;
  };
  const node = (e: El, depth: number): string => {
    if (depth > 32) throw new Error('grammar too deep');
    switch (e.name) {
      case 'one-of':
        return `(?:${kids(e, 'item').map((i) => seq(i, depth + 1)).join('|')})`;
      case 'item': {
        const body = `(?:${seq(e, depth + 1)})`;
        const r = e.attrs.repeat;
        if (!r) return body;
        const m = /^(\d+)(?:-(\d*))?$/.exec(r);
        if (!m) throw new Error(`bad repeat ${r}`);
        return m[2] === undefined ? `${body}{${m[1]}}` : `${body}{${m[1]},${m[2]}}`;
      }
      case 'ruleref': {
        const ref = rules.get((e.attrs.uri ?? '').replace(/^#/, ''));
        if (!ref) throw new Error(`unknown rule ${e.attrs.uri}`);
        return `(?:${seq(ref, depth + 1)})`;
      }
      default:
        throw new Error(`unsupported grammar element <${e.name}>`);
    }
  };
  return new RegExp(`^${seq(root, 0)}$`);
}

// ------------------------------------------------------------------ the caller's script
export type Answer = string | { silence: true } | { hangup: true };
export const SILENCE: Answer = { silence: true };
export const HANGUP: Answer = { hangup: true };

export interface Ask {
  /** The field name or menu id being asked. */
  name: string;
  prompts: string[];
}

export interface CallLog {
  /** Everything the platform said, in order. */
  said: string[];
  /** Every field/menu asked, in order. */
  asked: string[];
  /** Documents fetched: method and path. */
  fetched: string[];
  end: 'disconnect' | 'exit' | 'hangup' | 'out-of-script' | 'no-more-items';
}

class Transition {
  constructor(
    readonly next: string,
    readonly method: 'GET' | 'POST',
    readonly params: Record<string, string>,
  ) {}
}
class End {
  constructor(readonly how: CallLog['end']) {}
}
class Hangup {}

export interface CallerOptions {
  headers?: Record<string, string>;
  maxSteps?: number;
}

/** Places the "call": interprets documents from `startUrl` until the call ends. */
export async function runCall(startUrl: string, script: Answer[] | ((ask: Ask) => Answer), o: CallerOptions = {}): Promise<CallLog> {
  const log: CallLog = { said: [], asked: [], fetched: [], end: 'exit' };
  const answers = Array.isArray(script) ? [...script] : null;
  const answer = (ask: Ask): Answer => {
    log.asked.push(ask.name);
    if (answers) {
      const a = answers.shift();
      if (a === undefined) throw new End('out-of-script');
      return a;
    }
    return (script as (a: Ask) => Answer)(ask);
  };

  async function fetchDoc(url: string, method: 'GET' | 'POST', params: Record<string, string>): Promise<{ doc: El; url: string }> {
    const u = new URL(url);
    log.fetched.push(`${method} ${u.pathname}`);
    const res = await fetch(u, {
      method,
      headers: { ...(o.headers ?? {}), ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: method === 'POST' ? new URLSearchParams(params).toString() : undefined,
    });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`error.badfetch: ${method} ${u.pathname} → ${res.status} ${body.slice(0, 200)}`);
    if (!(res.headers.get('content-type') ?? '').startsWith('application/voicexml+xml')) throw new Error(`error.badfetch: not VoiceXML (${res.headers.get('content-type')})`);
    const doc = parseXml(body);
    if (doc.name !== 'vxml' || doc.attrs.version !== '2.1') throw new Error('error.badfetch: not a VoiceXML 2.1 document');
    return { doc, url: u.href };
  }

  let cur = await fetchDoc(startUrl, 'GET', {});
  for (let steps = 0; steps < (o.maxSteps ?? 200); steps++) {
    let outcome: Transition | End;
    try {
      outcome = await runDocument(cur.doc);
    } catch (e) {
      if (!(e instanceof Hangup)) throw e;
      // The caller hung up: the platform throws connection.disconnect.hangup into the document.
      log.end = 'hangup';
      const c = kids(cur.doc, 'catch').find((x) => (x.attrs.event ?? '').split(/\s+/).includes('connection.disconnect.hangup'));
      const sub = c && kids(c).find((x) => x.name === 'submit' || x.name === 'goto');
      if (sub) await fetchDoc(new URL(sub.attrs.next, cur.url).href, sub.name === 'submit' && (sub.attrs.method ?? 'get').toUpperCase() === 'POST' ? 'POST' : 'GET', {});
      return log;
    }
    if (outcome instanceof End) {
      log.end = outcome.how;
      if (outcome.how === 'disconnect') {
        // <disconnect> also throws connection.disconnect.hangup (VoiceXML 2.1 §5.3.11).
        const c = kids(cur.doc, 'catch').find((x) => (x.attrs.event ?? '').split(/\s+/).includes('connection.disconnect.hangup'));
        const sub = c && kids(c).find((x) => x.name === 'submit' || x.name === 'goto');
        if (sub) await fetchDoc(new URL(sub.attrs.next, cur.url).href, 'POST', {});
      }
      return log;
    }
    cur = await fetchDoc(new URL(outcome.next, cur.url).href, outcome.method, outcome.params);
  }
  throw new Error('call did not end within maxSteps');

  async function runDocument(doc: El): Promise<Transition | End> {
    const dialog = kids(doc).find((e) => e.name === 'form' || e.name === 'menu');
    if (!dialog) return new End('exit');
    return dialog.name === 'menu' ? runMenu(dialog) : runForm(dialog);
  }

  /** Runs executable content; returns a transition/end, 'reprompt', or null to fall through. */
  function exec(content: El, vars: Record<string, string>): Transition | End | 'reprompt' | null {
    for (const c of kids(content)) {
      switch (c.name) {
        case 'prompt':
          log.said.push(textOf(c));
          break;
        case 'reprompt':
          return 'reprompt';
        case 'goto':
          return new Transition(c.attrs.next, 'GET', {});
        case 'submit': {
          const names = c.attrs.namelist ? c.attrs.namelist.split(/\s+/) : Object.keys(vars);
          const params = Object.fromEntries(names.filter((n) => n in vars).map((n) => [n, vars[n]]));
          return new Transition(c.attrs.next, (c.attrs.method ?? 'get').toUpperCase() === 'POST' ? 'POST' : 'GET', params);
        }
        case 'disconnect':
          return new End('disconnect');
        case 'exit':
          return new End('exit');
        default:
          throw new Error(`unsupported executable element <${c.name}>`);
      }
    }
    return null;
  }

  /** The catch handler for an event: the one with the greatest count ≤ the event's count. */
  function handler(item: El, event: 'nomatch' | 'noinput', count: number): El | null {
    const hs = kids(item, event).filter((h) => Number(h.attrs.count ?? 1) <= count);
    return hs.sort((a, b) => Number(b.attrs.count ?? 1) - Number(a.attrs.count ?? 1))[0] ?? null;
  }

  /** Collects one input for an item; loops over nomatch/noinput until matched or transitioned. */
  async function collect(item: El, name: string, grammar: RegExp, termchar: string | null, vars: Record<string, string>): Promise<string | Transition | End> {
    const counts = { nomatch: 0, noinput: 0 };
    let prompts = kids(item, 'prompt').map(textOf);
    for (;;) {
      log.said.push(...prompts);
      const a = answer({ name, prompts });
      if (typeof a === 'object' && 'hangup' in a) throw new Hangup();
      let event: 'nomatch' | 'noinput' | null = null;
      let keys = '';
      if (typeof a === 'object') event = 'noinput';
      else {
        keys = termchar && a.endsWith(termchar) ? a.slice(0, -termchar.length) : a;
        if (!grammar.test(keys)) event = 'nomatch';
      }
      if (!event) return keys;
      const h = handler(item, event, ++counts[event]);
      if (!h) {
        prompts = kids(item, 'prompt').map(textOf);
        continue;
      }
      const r = exec(h, vars);
      if (r === 'reprompt' || r === null) {
        prompts = kids(item, 'prompt').map(textOf);
        continue;
      }
      return r;
    }
  }

  async function runMenu(menu: El): Promise<Transition | End> {
    const choices = kids(menu, 'choice');
    const grammar = new RegExp(`^(?:${choices.map((c) => c.attrs.dtmf.replace('*', '\\*')).join('|')})$`);
    const got = await collect(menu, menu.attrs.id ?? 'menu', grammar, null, {});
    if (typeof got !== 'string') return got;
    return new Transition(choices.find((c) => c.attrs.dtmf === got)!.attrs.next, 'GET', {});
  }

  async function runForm(form: El): Promise<Transition | End> {
    const vars: Record<string, string> = {};
    const props = Object.fromEntries(kids(form, 'property').map((p) => [p.attrs.name, p.attrs.value]));
    for (const item of kids(form)) {
      if (item.name === 'block') {
        const r = exec(item, vars);
        if (r && r !== 'reprompt') return r;
      } else if (item.name === 'field') {
        const g = kids(item, 'grammar');
        if (g.length !== 1) throw new Error('a field needs exactly one grammar here');
        const got = await collect(item, item.attrs.name, srgsToRegExp(g[0]), props.termchar ?? '#', vars);
        if (typeof got !== 'string') return got;
        vars[item.attrs.name] = got;
        const filled = kids(item, 'filled')[0];
        if (filled) {
          const r = exec(filled, vars);
          if (r && r !== 'reprompt') return r;
        }
      }
    }
    return new End('no-more-items');
  }
}
