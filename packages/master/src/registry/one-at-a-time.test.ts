import { describe, expect, it } from 'vitest';
import { OneAtATime } from './one-at-a-time.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('OneAtATime', () => {
  it('runs the tasks of one key one after another, in order, a failure not stopping the next; other keys run freely', async () => {
    const serial = new OneAtATime();
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string, fail = false) => async (): Promise<string> => {
      running += 1;
      most = Math.max(most, running);
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      running -= 1;
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([serial.run('t1', task('a')), serial.run('t1', task('b', true)), serial.run('t1', task('c'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(most).toBe(1);
    await tick();
    expect(serial.size).toBe(0);

    most = 0;
    await Promise.all([serial.run('t1', task('x')), serial.run('t2', task('y'))]);
    expect(most).toBe(2);
  });
});
