import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { markerContent, markerMeansRestart, plannedRestartRequested, RESTART_MARKER_VALID_MS } from './planned-restart.js';

const NOW = Date.UTC(2026, 0, 1);

test('a marker is a planned restart until its deadline; a leftover, garbage or nothing is a stop', () => {
  expect(markerMeansRestart(markerContent(NOW), NOW)).toBe(true);
  expect(markerMeansRestart(markerContent(NOW), NOW + RESTART_MARKER_VALID_MS - 1_000)).toBe(true);
  expect(markerMeansRestart(markerContent(NOW), NOW + RESTART_MARKER_VALID_MS + 1_000)).toBe(false);
  // What the postinst writes: $(date +%s) + 120, one line.
  expect(markerMeansRestart(`${NOW / 1000 + 120}\n`, NOW)).toBe(true);
  for (const content of ['', '\n', 'yes', '-1', '1e20', `${NOW / 1000 - 1}`, '99999999999999']) {
    expect(markerMeansRestart(content, NOW), JSON.stringify(content)).toBe(false);
  }
});

test('plannedRestartRequested reads the file; an absent one is a stop', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'planned-restart-'));
  try {
    const path = join(dir, 'planned-restart');
    expect(await plannedRestartRequested(path, NOW)).toBe(false);
    await writeFile(path, markerContent(NOW));
    expect(await plannedRestartRequested(path, NOW)).toBe(true);
    expect(await plannedRestartRequested(path, NOW + 2 * RESTART_MARKER_VALID_MS)).toBe(false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
