import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fakeRun, stdout } from '../test-support/fake-commands.js';
import { realTimers } from '../timers.js';
import { runCommand } from './run-command.js';
import { LSBLK_ARGS, parseLsblkJson, probeStorage, selectPhysicalDisks } from './storage.js';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('selectPhysicalDisks on recorded lsblk output', () => {
  it('host with loop devices, zram, a CD-ROM, a floppy, a USB stick, RAID members, LVM and a multipath LUN', async () => {
    const report = selectPhysicalDisks(parseLsblkJson(await fixture('raid-host.lsblk.json')));
    // Two RAID1 members at raw size, the NVMe boot disk (not its partitions or LVs), the LUN once.
    expect(report.disks.map((d) => d.name)).toEqual(['sda', 'sdb', 'sdd', 'nvme0n1']);
    expect(report.total_storage).toBe(10_061.28); // (2 × 4000787030016 + 1099511627776 + 960197124096) / 1e9
    expect(Object.fromEntries(report.skipped.map((s) => [s.name, s.why]))).toEqual({
      loop0: 'loop device',
      loop1: 'loop device',
      sdc: 'removable device',
      sde: 'another path to multipath device mpatha, counted as sdd',
      sr0: 'optical drive',
      fd0: 'floppy drive',
      nbd0: 'network block device',
      zram0: 'compressed RAM disk (zram)',
    });
    expect(report.disks[0]).toEqual({ name: 'sda', size_bytes: 4000787030016, size_gb: 4000.79, model: 'ST4000NM000A-2HZ100', tran: 'sata' });
  });

  it('reads the string-typed JSON of old lsblk (util-linux < 2.33)', async () => {
    const report = selectPhysicalDisks(parseLsblkJson(await fixture('old-lsblk.lsblk.json')));
    expect(report.disks.map((d) => d.name)).toEqual(['sda']);
    expect(report.total_storage).toBe(480.1);
  });

  it('does not count a USB disk that claims to be fixed', () => {
    const report = selectPhysicalDisks([{ name: 'sdf', type: 'disk', size_bytes: 2e12, removable: false, tran: 'usb', model: 'Portable', children: [] }]);
    expect(report).toMatchObject({ total_storage: 0, skipped: [{ name: 'sdf', why: 'USB device' }] });
  });

  it('refuses output it does not understand', () => {
    expect(() => parseLsblkJson('{"devices":[]}')).toThrow(/blockdevices/);
  });
});

describe('probeStorage', () => {
  it('runs lsblk with byte sizes and JSON', async () => {
    const run = fakeRun({ lsblk: stdout(await fixture('old-lsblk.lsblk.json')) });
    const report = await probeStorage({ run, timers: realTimers, timeoutMs: 5_000 });
    expect(report).toMatchObject({ total_storage: 480.1 });
    expect(run.calls).toEqual([`lsblk ${LSBLK_ARGS.join(' ')}`]);
  });

  it('reports a missing lsblk as an error, not as 0 GB', async () => {
    expect(await probeStorage({ run: fakeRun({}), timers: realTimers, timeoutMs: 5_000 })).toEqual({ error: 'lsblk is not installed' });
  });

  it('on this machine, matches the disks `lsblk -b` lists, summed independently', async () => {
    const { stdout: text } = await promisify(execFile)('lsblk', ['-b', '-d', '-n', '-P', '-o', 'NAME,TYPE,SIZE,RM,TRAN']);
    let bytes = 0;
    for (const line of text.split('\n')) {
      const f = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m): [string, string] => [m[1] ?? '', m[2] ?? ''])) as Record<string, string | undefined>;
      const virtual = /^(loop|zram|ram|nbd|sr|fd|md|dm-)/.test(f.NAME ?? '');
      if (f.TYPE === 'disk' && f.RM === '0' && f.TRAN !== 'usb' && !virtual) bytes += Number(f.SIZE);
    }
    const report = await probeStorage({ run: runCommand, timers: realTimers, timeoutMs: 5_000 });
    expect('error' in report).toBe(false);
    if ('error' in report) return;
    expect(report.total_storage).toBe(Math.round((bytes / 1e9) * 100) / 100);
  });
});
