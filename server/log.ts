// The service logger (pino) with a redaction step: every log object and message passes through
// scrubDeep/scrubPans, so even a PAN that slipped into a URL or an error message leaves only its
// BIN and last four. Request bodies are never logged.
import { pino, type Logger, type DestinationStream } from 'pino';
import { scrubDeep, scrubPans } from '../contracts/pan-guard.ts';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where lines go (default stdout). Tests pass a stream to capture and grep them. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { svc: 'precheck-server' },
      formatters: {
        log: (obj) => scrubDeep(obj) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const clean = args.map((a) => (typeof a === 'string' ? scrubPans(a) : a));
          return method.apply(this, clean as Parameters<typeof method>);
        },
      },
      serializers: {
        // Only the request line; bodies (import files, auth payloads) are never serialized.
        req: (req: { method?: string; url?: string; id?: unknown }) => ({
          id: req.id,
          method: req.method,
          url: typeof req.url === 'string' ? scrubPans(req.url) : undefined,
        }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
    },
    opts.destination,
  );
}
