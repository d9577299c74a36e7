import type { IncomingMessage } from 'node:http';
import type { Timers } from '../timers.js';

/**
 * Peer-supplied text goes into our logs: printable ASCII only, one line,
 * short. The master's refusal bodies are a few words ("unknown worker").
 */
export function sanitizeReason(text: string, maxLength = 200): string {
  return text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, maxLength);
}

/** Reads at most `maxBytes` of a refusal's body, giving up after `timeoutMs`. Never rejects. */
export function readRefusalBody(res: IncomingMessage, timers: Timers, maxBytes = 512, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      timers.clearTimeout(timer);
      res.removeListener('data', onData);
      resolve(sanitizeReason(Buffer.concat(chunks).toString('utf8')));
    };
    const onData = (chunk: Buffer) => {
      if (size < maxBytes) chunks.push(chunk.subarray(0, maxBytes - size));
      size += chunk.length;
      if (size >= maxBytes) finish();
    };
    const timer = timers.setTimeout(finish, timeoutMs);
    res.on('data', onData);
    res.once('end', finish);
    res.once('close', finish);
    res.once('error', finish);
  });
}
