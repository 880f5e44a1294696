// What the two socket cables (the emulator's virtual USB HID and BLE cables over unix sockets)
// share: keep one connection to the socket, "absent" and retried every reconnectMs while nobody
// listens, retried again when it drops.
import { ProtocolError } from '../../protocol/errors.ts';
import type { SessionTransport } from '../session/exchange.ts';
import type { LinkContext, LinkProvider } from './provider.ts';

export async function keepCableConnected(cable: LinkProvider<string, SessionTransport>, socketPath: string, ctx: LinkContext): Promise<void> {
  const retry = (): void => ctx.later(() => keepCableConnected(cable, socketPath, ctx));
  let t: SessionTransport;
  try {
    t = await cable.open(socketPath, ctx);
  } catch (e) {
    ctx.report('absent', e);
    retry();
    return;
  }
  if (!ctx.running()) {
    await Promise.resolve(t.close()).catch(() => undefined);
    return;
  }
  ctx.report('connected');
  t.on?.('disconnect', () => {
    ctx.report('absent', new ProtocolError('DISCONNECTED', `${cable.kind} ${socketPath} dropped`));
    retry();
  });
  if (!(await ctx.attach(t))) {
    ctx.report('error', new ProtocolError('TIMEOUT', 'device did not answer INFO'));
    retry();
  }
}
