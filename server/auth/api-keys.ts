// Caller credentials. Keys are random (192 bits), shown once, and stored only as SHA-256 hashes:
// a leaked database does not let anyone call the API. Bridge keys start "pk_", the admin key "ak_".
import crypto from 'node:crypto';
import { bearerCredentials } from '../../contracts/bearer.ts';

export type KeyRole = 'bridge' | 'admin';

export function generateApiKey(role: KeyRole): { key: string; id: string; hash: string } {
  const key = `${role === 'admin' ? 'ak' : 'pk'}_${crypto.randomBytes(24).toString('base64url')}`;
  return { key, id: crypto.randomBytes(6).toString('hex'), hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  // One-shot: a fifth of createHash().update().digest()'s cost, on every request.
  return crypto.hash('sha256', key, 'hex');
}

/** Extracts the bearer key from an Authorization header, or null. */
export function bearerKey(header: string | undefined): string | null {
  const key = bearerCredentials(header);
  return key && /^[A-Za-z0-9_-]{8,128}$/.test(key) ? key : null;
}
