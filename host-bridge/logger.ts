// The bridge's pino logger. Nothing in the bridge logs a request body; the redaction below is a
// second line of defence should a card-bearing object ever reach a log call.
import pino, { type DestinationStream, type Logger } from 'pino';

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
  const opts = { name: 'precheck-bridge', level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(opts, destination) : pino(opts);
}
