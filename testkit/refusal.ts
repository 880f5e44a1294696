// What a decoder's refusal says: the ProtocolError's code and message (any other exception, or
// none, fails the test), for tests that pin a decoder's limits.
import { isProtocolError } from '../protocol/errors.ts';

export function protocolRefusal(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isProtocolError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('not refused');
}
