// Noise handshake patterns (rev. 34 §7) used here, and the psk modifier (§9.2).
import { ProtocolError } from '../errors.ts';

export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';

export interface HandshakePattern {
  readonly name: string;
  /** Pre-message tokens known out of band: initiator's (-> ...) and responder's (<- ...). */
  readonly preInitiator: readonly Token[];
  readonly preResponder: readonly Token[];
  /** Messages in order; even indexes go initiator -> responder, odd the other way. */
  readonly messages: readonly (readonly Token[])[];
}

const BASE: Record<string, Omit<HandshakePattern, 'name'>> = {
  NN: { preInitiator: [], preResponder: [], messages: [['e'], ['e', 'ee']] },
  KK: {
    preInitiator: ['s'],
    preResponder: ['s'],
    messages: [
      ['e', 'es', 'ss'],
      ['e', 'ee', 'se'],
    ],
  },
  IK: {
    preInitiator: [],
    preResponder: ['s'],
    messages: [
      ['e', 'es', 's', 'ss'],
      ['e', 'ee', 'se'],
    ],
  },
  XX: {
    preInitiator: [],
    preResponder: [],
    messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
  },
};

/**
 * Parses "XX", "NNpsk0", "XXpsk3", "KKpsk0+psk2"... pskN puts a psk token at the start of the
 * first message (N = 0) or at the end of message N (N >= 1).
 */
export function handshakePattern(name: string): HandshakePattern {
  const m = /^([A-Z]+)((?:psk\d+)(?:\+psk\d+)*)?$/.exec(name);
  const base = m ? BASE[m[1]] : undefined;
  if (!m || !base) throw new ProtocolError('UNSUPPORTED', `unsupported Noise pattern ${name}`);
  const messages = base.messages.map((msg) => [...msg]);
  if (m[2]) {
    for (const mod of m[2].split('+')) {
      const n = Number(mod.slice(3));
      if (n === 0) messages[0].unshift('psk');
      else if (n <= messages.length) messages[n - 1].push('psk');
      else throw new ProtocolError('UNSUPPORTED', `bad psk modifier in ${name}`);
    }
  }
  return { name, preInitiator: base.preInitiator, preResponder: base.preResponder, messages };
}

export interface ProtocolName {
  readonly full: string;
  readonly pattern: HandshakePattern;
  readonly dh: '25519';
  readonly cipher: 'AESGCM' | 'ChaChaPoly';
  readonly hash: 'SHA256';
}

export function parseProtocolName(full: string): ProtocolName {
  const parts = full.split('_');
  if (parts.length !== 5 || parts[0] !== 'Noise') {
    throw new ProtocolError('UNSUPPORTED', `not a Noise protocol name: ${full}`);
  }
  const [, pattern, dh, cipher, hash] = parts;
  if (dh !== '25519') throw new ProtocolError('UNSUPPORTED', `unsupported DH ${dh}`);
  if (cipher !== 'AESGCM' && cipher !== 'ChaChaPoly') {
    throw new ProtocolError('UNSUPPORTED', `unsupported cipher ${cipher}`);
  }
  if (hash !== 'SHA256') throw new ProtocolError('UNSUPPORTED', `unsupported hash ${hash}`);
  return { full, pattern: handshakePattern(pattern), dh, cipher, hash };
}
