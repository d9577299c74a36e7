import { Readable } from 'node:stream';
import { pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { describe, expect, it } from 'vitest';
import { createDaemonLogger } from './index.js';
import { formatLogLine, prettyPrint } from './pretty.js';

/** Records as the daemons write them: plain fields, nested objects and arrays, an error with its stack, a null. */
const RECORDS: Record<string, unknown>[] = [
  { level: 30, time: '2026-12-07T08:00:00.123Z', pid: 4711, hostname: 'gpu-01', name: 'cluster-master', msg: 'listening', port: 8080, host: '0.0.0.0' },
  {
    level: 40,
    time: '2026-12-07T08:00:01.5Z',
    pid: 12,
    hostname: 'vm',
    name: 'cluster-agent',
    worker_id: 'gpu-01',
    event: 'retry',
    delay_ms: 2300,
    slow: false,
    tried: [{ url: 'ws://m1:8080/agent', error: 'connection refused', error_code: 'ECONNREFUSED' }],
    advice: 'use ws:// in the master URL',
    msg: 'cannot connect to the master ws://m1:8080/agent: connection refused; next try in 2.3 s',
  },
  { level: 50, time: '2026-12-07T08:00:02.000Z', pid: 1, name: 'cluster-master', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at write (db.js:1:1)' }, msg: 'database error', retry_in_ms: 500 },
  { level: 20, time: '2026-12-07T08:00:03.000Z', pid: 1, name: 'cluster-master', msg: 'debug line', nothing: null, empty: {}, list: [] },
  { level: 60, time: '2026-12-07T08:00:04.000Z', msg: 'no name, no pid' },
];

describe('formatLogLine', () => {
  it("writes pino-pretty's default form (which the READMEs show), without pino-pretty", () => {
    const theirs = prettyFactory({ colorize: false, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' });
    for (const record of RECORDS) {
      expect(formatLogLine(JSON.stringify(record), { colors: false })).toBe(theirs(record));
    }
  });

  it('colours the level only in a terminal, and adds the date for a log read later', () => {
    const line = JSON.stringify(RECORDS[1]);
    expect(formatLogLine(line, { colors: true }).split('\n')[0]).toMatch(/^\[\d\d:\d\d:\d\d\.500\] (.)\[33mWARN\1\[39m \(cluster-agent\/12\): cannot connect/);
    expect(formatLogLine(line, { colors: true })).toContain('\u001b[33mWARN\u001b[39m');
    expect(formatLogLine(line, { colors: false, dates: true })).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.500\] WARN /);
  });

  it("sends no control character of a peer's text to the terminal", () => {
    const hostile = { level: 30, time: 0, msg: 'closed: \u001b[2J\u001b]0;owned\u0007 bye\nFAKE LINE', reason: '\u009b31m', 'k\u001b': 1 };
    const out = formatLogLine(JSON.stringify(hostile), { colors: false });
    // eslint-disable-next-line no-control-regex -- the very characters that must not be written
    expect(out.slice(0, -1)).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(out).toContain('closed: \\u001b[2J\\u001b]0;owned\\u0007 bye\\u000aFAKE LINE');
    expect(out.split('\n')).toHaveLength(4); // head, reason, key, and the final newline
  });

  it('gives back a line that is not a JSON object as it was', () => {
    expect(formatLogLine('-- Boot 1a2b --', { colors: false })).toBe('-- Boot 1a2b --\n');
    expect(formatLogLine('[1,2]\n', { colors: false })).toBe('[1,2]\n');
  });
});

describe('prettyPrint', () => {
  it('reads lines split anywhere across chunks, the last without a newline', async () => {
    const text = RECORDS.map((r) => JSON.stringify(r)).join('\n');
    const chunks = [text.slice(0, 7), text.slice(7, 200), text.slice(200)];
    let out = '';
    await prettyPrint(Readable.from(chunks), { write: (t: string) => (out += t) }, { colors: false });
    expect(out).toBe(RECORDS.map((r) => formatLogLine(JSON.stringify(r), { colors: false })).join(''));
  });
});

describe('createDaemonLogger', () => {
  it('pretty: readable lines to the destination, secrets still redacted; otherwise JSON', () => {
    let out = '';
    const destination = { write: (t: string) => (out += t) };
    createDaemonLogger({ name: 'cluster-agent', level: 'info', pretty: true, colors: false, destination }).info({ event: 'x', token: 'tok_secret' }, 'hello');
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(cluster-agent\/\d+\): hello\n {4}event: "x"\n {4}token: "\[redacted\]"\n$/);
    out = '';
    createDaemonLogger({ name: 'cluster-agent', level: 'info', destination }).info('hello');
    expect(JSON.parse(out)).toMatchObject({ msg: 'hello', level: 30 });
    expect(pino.levels.values.info).toBe(30);
  });
});
