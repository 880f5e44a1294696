// The keys `precheck device provision` writes: the service's dataset-signing public key and its
// card key. Both come from the service (GET /v1/admin/provisioning with the admin key) or from the
// command line; never invented. A random card key would make every token the device computes
// differ from the service's, so the device would silently never match a restricted card.
import fs from 'node:fs';
import { CliError, EXIT } from '../../errors/cli-exit.ts';
import { readKeyArg } from './key-arg.ts';

export interface ProvisionKeyOptions {
  serverKey?: string;
  cardKey?: string;
  service?: string;
  adminKey?: string;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The admin key given as the key itself or a file holding it (the service's admin.key). */
function adminKeyArg(v: string): string {
  const t = v.trim();
  if (/^ak_[A-Za-z0-9_-]{8,200}$/.test(t)) return t;
  let text: string;
  try {
    text = fs.readFileSync(t, 'utf8').trim();
  } catch {
    throw new CliError(`--admin-key: not an admin key (ak_…) and not a readable file: ${t}`, EXIT.USAGE);
  }
  if (!/^ak_[A-Za-z0-9_-]{8,200}$/.test(text)) throw new CliError(`--admin-key: file ${t} does not hold an admin key (ak_…)`, EXIT.USAGE);
  return text;
}

async function fromService(url: string, adminKey: string): Promise<{ serverKey: Uint8Array; cardKey: Uint8Array }> {
  if (!/^https?:\/\/[^\s/]+/.test(url)) throw new CliError(`--service: not an http(s) URL: ${url}`, EXIT.USAGE);
  let res: Response;
  try {
    res = await fetch(`${url.replace(/\/+$/, '')}/v1/admin/provisioning`, { headers: { authorization: `Bearer ${adminKey}` }, signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
    throw new CliError(`cannot reach the network service at ${url} (${cause})`, EXIT.UNAVAILABLE);
  }
  const text = await res.text();
  let body: { signingPublicKey?: unknown; cardKey?: unknown; error?: { code?: string; message?: string } } = {};
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: reported below */
  }
  if (res.status === 401 || res.status === 403) throw new CliError(`the service at ${url} refused the admin key (${body.error?.code ?? res.status})`, EXIT.USAGE);
  if (res.status !== 200) throw new CliError(`the service at ${url} answered ${res.status} to the provisioning call${body.error?.code ? ` (${body.error.code})` : ''}`, EXIT.FAILURE);
  const ok = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
  if (!ok(body.signingPublicKey) || !ok(body.cardKey)) throw new CliError(`the service at ${url} sent no usable keys`, EXIT.FAILURE);
  return { serverKey: new Uint8Array(Buffer.from(body.signingPublicKey, 'hex')), cardKey: new Uint8Array(Buffer.from(body.cardKey, 'hex')) };
}

function keyArg(v: string, what: string): Uint8Array {
  try {
    return readKeyArg(v, what);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.USAGE);
  }
}

/**
 * Both keys, from the service (--service with --admin-key or $PRECHECK_ADMIN_KEY) or from
 * --server-key and --card-key. A key given as well as fetched must equal the service's.
 */
export async function provisionKeys(o: ProvisionKeyOptions, env: NodeJS.ProcessEnv = process.env): Promise<{ serverKey: Uint8Array; cardKey: Uint8Array; source: string }> {
  const givenServer = o.serverKey !== undefined ? keyArg(o.serverKey, '--server-key') : undefined;
  const givenCard = o.cardKey !== undefined ? keyArg(o.cardKey, '--card-key') : undefined;
  if (o.service !== undefined) {
    const admin = o.adminKey ?? env.PRECHECK_ADMIN_KEY;
    if (!admin) throw new CliError('--service needs the admin key: --admin-key KEY|FILE (the service data dir holds it in admin.key) or $PRECHECK_ADMIN_KEY', EXIT.USAGE);
    const k = await fromService(o.service, adminKeyArg(admin));
    if (givenServer && hex(givenServer) !== hex(k.serverKey)) throw new CliError(`--server-key differs from the signing key of the service at ${o.service}`, EXIT.USAGE);
    if (givenCard && hex(givenCard) !== hex(k.cardKey)) throw new CliError(`--card-key differs from the card key of the service at ${o.service}`, EXIT.USAGE);
    return { ...k, source: o.service };
  }
  if (!givenCard) {
    throw new CliError(
      "needs the service's card key: --card-key HEX|FILE (the service's card.key) or --service URL --admin-key KEY|FILE to fetch it; a made-up card key would never match the service's card tokens",
      EXIT.USAGE,
    );
  }
  if (!givenServer) throw new CliError("needs the service's dataset-signing key: --server-key HEX|FILE, or --service URL --admin-key KEY|FILE to fetch it", EXIT.USAGE);
  return { serverKey: givenServer, cardKey: givenCard, source: 'command line' };
}
