import { expect, test } from 'vitest';
import { Scrape, parsePrometheus } from './prometheus.js';

test('parses names, labels (escaped), values and the histogram series', () => {
  const text = [
    '# HELP a_total help',
    '# TYPE a_total counter',
    'a_total{reason="x"} 3',
    'a_total{reason="y \\"q\\" \\\\"} 4',
    'g 2',
    'h_bucket{le="+Inf",op="w"} 7',
    'h_count{op="w"} 7',
    'h_sum{op="w"} 0.25',
    '',
  ].join('\n');
  const samples = parsePrometheus(text);
  expect(samples).toContainEqual({ name: 'a_total', labels: { reason: 'y "q" \\' }, value: 4 });
  const scrape = new Scrape(samples);
  expect(scrape.value('a_total')).toBe(7);
  expect(scrape.value('a_total', { reason: 'x' })).toBe(3);
  expect(scrape.value('g')).toBe(2);
  expect(scrape.value('h_count', { op: 'w' })).toBe(7);
  expect(scrape.value('missing')).toBe(0);
  expect(scrape.has('h_sum')).toBe(true);
});
