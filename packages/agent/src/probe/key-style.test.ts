import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { fakeRun, stdout } from '../test-support/fake-commands.js';
import { writeSysfs } from '../test-support/sysfs.js';
import { realTimers } from '../timers.js';
import { readPciFunctions } from './gpu.js';
import { createProbe } from './index.js';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** Every key of a JSON value, at every depth, with its path. */
function allKeys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => allKeys(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [`${path}.${k}`, ...allKeys(v, `${path}.${k}`)]);
}

describe('probe report keys', () => {
  it('are snake_case at every depth, like the registry fields, on a host with GPUs, disks and skipped devices', async () => {
    await using sysfs = await writeSysfs(await fixture('hgx-h100.sysfs.txt'));
    const probe = createProbe({
      run: fakeRun({ 'nvidia-smi': stdout(await fixture('hgx-h100.nvidia-smi.csv')), lsblk: stdout(await fixture('raid-host.lsblk.json')) }),
      readPci: () => readPciFunctions(sysfs.root),
      timers: realTimers,
    });
    const json = JSON.parse(JSON.stringify(await probe())) as unknown;
    const keys = allKeys(json);
    // The report carries devices of each kind, so every nested key is looked at.
    for (const path of ['.storage.disks[0].size_bytes', '.storage.skipped[0].why', '.gpu.devices[0].memory_mib', '.gpu.excluded[0].bus_id', '.duration_ms']) {
      expect(keys).toContain(path);
    }
    expect(keys.filter((k) => !/^[a-z][a-z0-9_]*$/.test(k.slice(k.lastIndexOf('.') + 1)))).toEqual([]);
  });
});
