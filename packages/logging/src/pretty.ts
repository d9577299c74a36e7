import type { DestinationStream } from 'pino';

/**
 * Readable log lines, in pino-pretty's default form, written by us: the
 * released executables are single files without node_modules (pino-pretty's
 * transport runs in a worker thread that loads it from disk), and hosts sold
 * as needing no Node.js cannot `npx pino-pretty`. A few dozen lines do what
 * an operator needs: one head line per event, its fields below.
 *
 *     [08:21:03.123] WARN (cluster-agent/4711): cannot connect to the master …
 *         event: "retry"
 *         delay_ms: 2300
 */

export interface PrettyOptions {
  /** ANSI colours for the level (a terminal; never when NO_COLOR is set: the caller decides). */
  colors: boolean;
  /** Also the date: for a file or the journal read later; a live terminal shows the time alone. */
  dates?: boolean;
}

/** Fields the head line shows (or that only a program needs). */
const HEAD_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** pino's numeric levels; another number (a custom level) reads as USERLVL, as in pino-pretty. */
const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Readonly<Record<number, string>> = { 10: '90', 20: '34', 30: '32', 40: '33', 50: '31', 60: '41' };

/** Keys pino-pretty prints as an error (the stack on lines of its own). */
const ERROR_KEYS = new Set(['err', 'error']);

/**
 * One line that pino wrote (JSON, newline included or not) as readable text
 * ending in a newline. A line that is not a JSON object is given back as it
 * was: `pretty` may read a journal with other lines in it.
 */
export function formatLogLine(line: string, options: PrettyOptions): string {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return `${text}\n`;
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return `${text}\n`;
  return formatRecord(record as Record<string, unknown>, options);
}

export function formatRecord(record: Record<string, unknown>, options: PrettyOptions): string {
  const out: string[] = [];
  const time = formatTime(record.time, options.dates === true);
  const levelNumber = typeof record.level === 'number' ? record.level : undefined;
  const label = (levelNumber === undefined ? undefined : LEVEL_NAMES[levelNumber]) ?? 'USERLVL';
  const colour = levelNumber === undefined ? undefined : LEVEL_COLORS[levelNumber];
  const level = options.colors && colour !== undefined ? `\u001b[${colour}m${label}\u001b[39m` : label;
  const pid = typeof record.pid === 'number' || typeof record.pid === 'string' ? String(record.pid) : undefined;
  const who = typeof record.name === 'string' ? (pid === undefined ? record.name : `${record.name}/${pid}`) : (pid ?? '');
  const msg = typeof record.msg === 'string' ? ` ${safeText(record.msg)}` : '';
  out.push(`${time === undefined ? '' : `[${time}] `}${level}${who === '' ? '' : ` (${safeText(who)})`}:${msg}`);
  const errors: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (HEAD_FIELDS.has(key) || value === undefined) continue;
    // An error comes last, its stack on lines of its own, as in pino-pretty.
    if (ERROR_KEYS.has(key) && hasStack(value)) errors.push(`    ${key}: ${errorValue(value)}`);
    else out.push(`    ${safeText(key)}: ${jsonValue(value, 4)}`);
  }
  out.push(...errors);
  return `${out.join('\n')}\n`;
}

/**
 * A DestinationStream for pino that writes readable lines to `target`: what a
 * daemon logs to a terminal. pino hands it the JSON line it would have written.
 */
export function prettyDestination(target: { write(text: string): unknown }, options: PrettyOptions): DestinationStream {
  return {
    write(line: string) {
      target.write(formatLogLine(line, options));
    },
  };
}

/** Reads JSON log lines (a file, `journalctl -o cat`) and writes them readable: the `pretty` commands. */
export async function prettyPrint(input: AsyncIterable<string | Buffer>, output: { write(text: string): unknown }, options: PrettyOptions): Promise<void> {
  let pending = '';
  for await (const chunk of input) {
    pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      output.write(formatLogLine(pending.slice(0, newline), options));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
  }
  if (pending !== '') output.write(formatLogLine(pending, options));
}

function formatTime(time: unknown, dates: boolean): string | undefined {
  if (typeof time !== 'string' && typeof time !== 'number') return undefined;
  const at = new Date(time);
  if (Number.isNaN(at.getTime())) return safeText(String(time));
  const two = (n: number) => String(n).padStart(2, '0');
  const clock = `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`;
  return dates ? `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${clock}` : clock;
}

/** JSON, indented by two below its first line, every line after the first shifted right by `indent`. */
function jsonValue(value: unknown, indent: number): string {
  const json = JSON.stringify(value, null, 2) ?? String(value);
  return safeText(json, true).split('\n').join(`\n${' '.repeat(indent)}`);
}

function hasStack(value: unknown): value is Record<string, unknown> & { stack: string } {
  return value !== null && typeof value === 'object' && typeof (value as { stack?: unknown }).stack === 'string';
}

/** An error object with its stack on lines of its own, as pino-pretty prints it. */
function errorValue(error: Record<string, unknown> & { stack: string }): string {
  const entries = Object.entries(error).map(([key, value]) =>
    key === 'stack'
      ? ['      "stack":', ...error.stack.split('\n').map((line) => `          ${safeText(line)}`)].join('\n')
      : `      ${safeText(JSON.stringify(key))}: ${jsonValue(value, 6)}`,
  );
  return `{\n${entries.join(',\n')}\n    }`;
}

/**
 * Text from the machine or from a peer (a close reason, a GPU model) goes to
 * a terminal: control characters (an escape sequence that would recolour or
 * rewrite the screen) are shown as \u escapes, never sent.
 */
function safeText(text: string, keepNewlines = false): string {
  // eslint-disable-next-line no-control-regex -- these are exactly what must not reach a terminal
  const unsafe = keepNewlines ? /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g : /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;
  return text.replace(unsafe, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
