// Reading a 32-byte key given on the command line: 64 hex characters, or a file holding either
// the raw 32 bytes or their hex (what the server's key files and `--print-key` outputs contain).
import fs from 'node:fs';
import { ProtocolError } from '../../protocol/errors.ts';

const HEX64 = /^[0-9a-fA-F]{64}$/;

export function readKeyArg(value: string, what: string): Uint8Array {
  const v = value.trim();
  if (HEX64.test(v)) return new Uint8Array(Buffer.from(v, 'hex'));
  let buf: Buffer;
  try {
    buf = fs.readFileSync(v);
  } catch {
    throw new ProtocolError('INVALID_FIELD', `${what}: not 64 hex characters and not a readable file: ${v}`);
  }
  if (buf.length === 32) return new Uint8Array(buf);
  const text = buf.toString('utf8').trim();
  if (HEX64.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  throw new ProtocolError('INVALID_FIELD', `${what}: file ${v} holds neither 32 raw bytes nor 64 hex characters`);
}
