import { describe, expect, test } from 'vitest';
import { inactiveFilter } from './inactive-filter.js';

describe('inactiveFilter', () => {
  test('without lastWritten: the given active workers, each id once', () => {
    expect(inactiveFilter(['a', 'b', 'a'])).toEqual({ worker_id: { $in: ['a', 'b'] }, is_active: true });
  });

  test('one second for all: one condition on last_heartbeat, no $or', () => {
    expect(inactiveFilter(['a', 'b'], new Map([['a', 100], ['b', 100]]))).toEqual({
      worker_id: { $in: ['a', 'b'] },
      last_heartbeat: { $lte: 100 },
      is_active: true,
    });
  });

  test('one $or branch per distinct second, plus one for ids this master never wrote', () => {
    const filter = inactiveFilter(['a', 'b', 'c', 'd'], new Map([['a', 100], ['b', 101], ['c', 100], ['x', 5]]));
    expect(filter).toEqual({
      worker_id: { $in: ['a', 'b', 'c', 'd'] },
      is_active: true,
      $or: [
        { worker_id: { $in: ['d'] } },
        { worker_id: { $in: ['a', 'c'] }, last_heartbeat: { $lte: 100 } },
        { worker_id: { $in: ['b'] }, last_heartbeat: { $lte: 101 } },
      ],
    });
  });
});
