import { describe, expect, test } from 'vitest';
import { ManualClock } from '../test-support/fakes.js';
import { HeldUpgrades } from './held-upgrades.js';

interface Entry {
  name: string;
}

function queue(max: number, holdMs = 3_000): { held: HeldUpgrades<Entry>; clock: ManualClock; expired: string[] } {
  const clock = new ManualClock();
  const expired: string[] = [];
  const held = new HeldUpgrades<Entry>({ max, holdMs, clock, onExpired: (e) => expired.push(e.name) });
  return { held, clock, expired };
}

const entry = (name: string): Entry => ({ name });

describe('HeldUpgrades', () => {
  test('entries come out oldest first', () => {
    const { held } = queue(10);
    const [a, b, c] = [entry('a'), entry('b'), entry('c')];
    for (const e of [a, b, c]) expect(held.hold(e)).toBe(true);
    expect(held.oldest()).toBe(a);
    held.remove(a);
    expect(held.oldest()).toBe(b);
    // One that left from the middle (its peer closed) is skipped.
    held.remove(c);
    held.remove(b);
    expect(held.oldest()).toBeUndefined();
    expect(held.size).toBe(0);
  });

  test('past max nothing more is held', () => {
    const { held } = queue(2);
    expect(held.hold(entry('a'))).toBe(true);
    expect(held.hold(entry('b'))).toBe(true);
    expect(held.hold(entry('c'))).toBe(false);
    expect(held.size).toBe(2);
  });

  test('each entry expires holdMs after it was held, oldest first, and leaves the queue', () => {
    const { held, clock, expired } = queue(10, 3_000);
    held.hold(entry('a'));
    clock.advance(1_000);
    held.hold(entry('b'));
    held.hold(entry('c'));
    clock.advance(1_999);
    expect(expired).toEqual([]);
    clock.advance(1);
    expect(expired).toEqual(['a']);
    expect(held.oldest()?.name).toBe('b');
    clock.advance(1_000);
    expect(expired).toEqual(['a', 'b', 'c']);
    expect(held.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  test('an entry taken before its deadline never expires; the next one keeps its own deadline', () => {
    const { held, clock, expired } = queue(10, 3_000);
    const a = entry('a');
    held.hold(a);
    clock.advance(2_000);
    held.hold(entry('b'));
    held.remove(a);
    clock.advance(1_000);
    expect(expired).toEqual([]);
    clock.advance(2_000);
    expect(expired).toEqual(['b']);
  });

  test('clear() hands back every entry in order and leaves no timer', () => {
    const { held, clock, expired } = queue(10);
    held.hold(entry('a'));
    held.hold(entry('b'));
    expect(held.clear().map((e) => e.name)).toEqual(['a', 'b']);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(10_000);
    expect(expired).toEqual([]);
  });
});
