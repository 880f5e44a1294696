// The Authorization header both HTTP APIs accept (bridge token, service API key), parsed once so
// the bridge and the service cannot disagree: the scheme is case-insensitive (RFC 7235 §2.1) and
// separated from the credentials by exactly one space; anything else is no credentials at all.
const BEARER = /^bearer ([^\s]+)$/i;

/** The credentials of a `Bearer` Authorization header, or null when absent or malformed. */
export function bearerCredentials(header: string | undefined): string | null {
  if (!header) return null;
  const m = BEARER.exec(header);
  return m ? m[1] : null;
}
