// Whether a host or address stays on this machine: the one answer for the bridge's listen check
// and status page, the service's plain-HTTP warning and the payer-notice webhook rules.
// node:net's BlockList matches IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 range too.
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** localhost, *.localhost, 127.0.0.0/8, ::1 and their IPv4-mapped forms; brackets and case ignored. */
export function isLoopback(host: string | undefined): boolean {
  if (!host) return false;
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v = isIP(h);
  return v !== 0 && LOOPBACK.check(h, v === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The line both long-running parts print (stderr and log) at every start when they listen beyond
 * loopback: they speak plain HTTP, so `exposed` crosses the network readable by anyone on the path.
 */
export function plainHttpWarning(what: string, host: string, port: number, exposed: string, fix: string): string | null {
  if (isLoopback(host)) return null;
  return `WARNING: ${what} listens on ${host.includes(':') ? `[${host}]` : host}:${port} beyond loopback over plain HTTP: ${exposed} cross the network unencrypted. ${fix}`;
}
