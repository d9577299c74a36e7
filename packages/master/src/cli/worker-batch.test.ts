import { describe, expect, it } from 'vitest';
import { batchFromRanges, batchFromText, describeProblem, expandRange } from './worker-batch.js';

describe('expandRange', () => {
  it('keeps the width of a zero-padded start, lists commas, and leaves plain text alone', () => {
    expect(expandRange('gpu-[01-03]')).toEqual(['gpu-01', 'gpu-02', 'gpu-03']);
    expect(expandRange('n[8-10]')).toEqual(['n8', 'n9', 'n10']);
    expect(expandRange('n[1-2,7].lab')).toEqual(['n1.lab', 'n2.lab', 'n7.lab']);
    expect(expandRange('10.0.4.[21-23]')).toEqual(['10.0.4.21', '10.0.4.22', '10.0.4.23']);
    expect(expandRange('plain')).toEqual(['plain']);
  });

  it('refuses what it cannot read, in a sentence', () => {
    expect(() => expandRange('gpu-[05-01]')).toThrow(/runs backwards/);
    expect(() => expandRange('gpu-[a-b]')).toThrow(/not a number or a range/);
    expect(() => expandRange('gpu-[01-02')).toThrow(/unmatched bracket/);
    expect(() => expandRange('r[1-2]-n[1-2]')).toThrow(/one \[a-b\] range per pattern/);
    expect(() => expandRange('n[0-20000]')).toThrow(/more than 10000/);
  });
});

describe('batchFromRanges', () => {
  it('pairs ids and addresses in order', () => {
    const r = batchFromRanges('gpu-[01-64]', '10.0.4.[21-84]');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.entries).toHaveLength(64);
    expect(r.entries[0]).toEqual({ worker_id: 'gpu-01', worker_ip: '10.0.4.21', line: 1 });
    expect(r.entries[63]).toEqual({ worker_id: 'gpu-64', worker_ip: '10.0.4.84', line: 64 });
  });

  it('refuses ranges of different lengths, and many workers on one address', () => {
    const r = batchFromRanges('gpu-[01-64]', '10.0.4.[21-83]');
    expect(r).toEqual({ ok: false, problems: [{ line: 0, message: expect.stringMatching(/names 64 workers but "10\.0\.4\.\[21-83\]" names 63 addresses/) as string }] });
    expect(batchFromRanges('gpu-[01-02]', '10.0.4.21').ok).toBe(false);
  });

  it('names addresses a range makes invalid by position', () => {
    const r = batchFromRanges('gpu-[1-3]', '10.0.4.[254-256]');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => describeProblem(p, 'position'))).toEqual([expect.stringMatching(/^position 3: invalid worker address "10\.0\.4\.256"/)]);
  });
});

describe('batchFromText', () => {
  it('reads ID IP lines, skipping comments and blank lines', () => {
    const r = batchFromText('# rack 4\n\ngpu-01 10.0.4.21\ngpu-02\t10.0.4.22   # spare\r\ngpu-[03-04] 10.0.4.[23-24]\n');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.entries.map((e) => [e.worker_id, e.worker_ip, e.line])).toEqual([
      ['gpu-01', '10.0.4.21', 3],
      ['gpu-02', '10.0.4.22', 4],
      ['gpu-03', '10.0.4.23', 5],
      ['gpu-04', '10.0.4.24', 5],
    ]);
  });

  it('names every bad line with its number: malformed, invalid id or address, duplicates', () => {
    const r = batchFromText(['gpu-01 10.0.4.21', 'gpu-02', 'gpu-03 10.0.4.23 extra', '-bad 10.0.4.24', 'gpu-05 10.0.4.300', 'gpu-01 10.0.4.26'].join('\n'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => describeProblem(p, 'line'))).toEqual([
      'line 2: expected "WORKER_ID ADDRESS", found 1 field',
      'line 3: expected "WORKER_ID ADDRESS", found 3 fields',
      expect.stringMatching(/^line 4: invalid worker id "-bad"/),
      expect.stringMatching(/^line 5: invalid worker address "10\.0\.4\.300"/),
      'line 6: worker "gpu-01" is given twice (first on line 1)',
    ]);
  });

  it('an empty input is a problem, not an empty success', () => {
    expect(batchFromText('# nothing\n\n')).toEqual({ ok: false, problems: [{ line: 0, message: expect.stringMatching(/no workers given/) as string }] });
  });
});
