// Reading the card number for `precheck verify` without it ever landing in shell history or on
// screen: on a terminal a prompt with echo off (raw mode, nothing printed per key), otherwise the
// first line of standard input (`--card -`, for a pipe from a secret store).
import { CliError, EXIT } from '../errors/cli-exit.ts';

const MAX = 64;

/** One line typed on the terminal with echo off; Ctrl-C / Ctrl-D abort (exit 130 / 2). */
export function promptHidden(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    output.write(question);
    const finish = (err: Error | null): void => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\u0003') return finish(new CliError('cancelled', 130));
        if (ch === '\u0004') return finish(new CliError('no card number given', EXIT.USAGE));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch === '\u0015') value = ''; // Ctrl-U: start over
        else if (ch >= ' ' && value.length < MAX) value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** The first line of a non-terminal standard input (bounded). */
export async function readFirstLine(input: NodeJS.ReadStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of input) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n > 256 || (c as Buffer).includes(10)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0].trim();
}

/** The card number: hidden prompt on a terminal, else standard input's first line. */
export async function readCardNumber(): Promise<string> {
  const v = process.stdin.isTTY ? await promptHidden('Card number (not shown): ') : await readFirstLine();
  const digits = v.replace(/[\s-]/g, '');
  if (!digits) throw new CliError('no card number given (type it at the prompt, or pipe it with --card -)', EXIT.USAGE);
  return digits;
}
