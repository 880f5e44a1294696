// The bridge's pino logger. Nothing in the bridge logs a request body; the redaction below is a
// second line of defence should a card-bearing object ever reach a log call.
import pino, { type DestinationStream, type Logger } from 'pino';
import { scrubDeep, scrubPans } from '../contracts/pan-guard.ts';

export const REDACT_PATHS = [
  'pan',
  'card.number',
  'card.cvc',
  'cvc',
  '*.pan',
  '*.cvc',
  '*.card.number',
  '*.card.cvc',
  'body.card',
  'req.body',
  'request.body',
];

export function createBridgeLogger(level: string, destination?: DestinationStream): Logger {
  const opts: pino.LoggerOptions = {
    name: 'precheck-bridge',
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // The one PAN guard's scrubber (as the service's log): a card number that slipped into a
    // message, an id or an error keeps only its BIN and last four, in any encoding.
    formatters: { log: (obj) => scrubDeep(obj) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        const clean = args.map((a) => (typeof a === 'string' ? scrubPans(a) : a));
        return method.apply(this, clean as Parameters<typeof method>);
      },
    },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
