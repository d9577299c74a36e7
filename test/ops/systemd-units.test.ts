import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The units with ExecStart's executable pointed at one that exists here
 * (`systemd-analyze verify` checks that it does); the packaged executables are
 * not installed on this machine. test/systemd runs the units as packaged.
 */
let dir: string;
async function unitAsInstalled(name: string): Promise<string> {
  const text = await readFile(join(repo, 'systemd', name), 'utf8');
  const path = join(dir, name);
  await writeFile(path, text.replace(/^ExecStart=\S+ /m, `ExecStart=${process.execPath} `));
  return path;
}

async function exposure(unitPath: string): Promise<number> {
  // `security` exits non-zero only with --threshold; read the figure it prints.
  const { stdout } = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', unitPath]);
  const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(stdout);
  expect(match, stdout.slice(-500)).not.toBeNull();
  return Number(match?.[1]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'units-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('systemd units', () => {
  it.each([
    ['cluster-agent.service', 1.4],
    ['cluster-master.service', 1.1],
  ])('%s passes systemd-analyze verify and rates at most %s', async (name, bound) => {
    const path = await unitAsInstalled(name);
    const { stderr } = await run('systemd-analyze', ['verify', path]);
    // verify prints problems on stderr even when it exits 0 (unknown keys, say).
    expect(stderr.trim()).toBe('');
    const figure = await exposure(path);
    console.log(`${name}: systemd-analyze security --offline=true exposure ${figure} (bound ${bound})`);
    expect(figure).toBeLessThanOrEqual(bound);
  });

  it('keep what the agent needs for GPUs and the JIT, and restart forever', async () => {
    const agent = await readFile(join(repo, 'systemd/cluster-agent.service'), 'utf8');
    const master = await readFile(join(repo, 'systemd/cluster-master.service'), 'utf8');
    for (const forbidden of [/^PrivateDevices=yes/m, /^ProcSubset=pid/m, /^MemoryDenyWriteExecute=yes/m, /^DevicePolicy=/m]) {
      expect(agent).not.toMatch(forbidden);
    }
    expect(master).not.toMatch(/^MemoryDenyWriteExecute=yes/m);
    for (const unit of [agent, master]) {
      expect(unit).toMatch(/^Restart=always$/m);
      expect(unit).toMatch(/^RestartSec=\d+/m);
      expect(unit).toMatch(/^DynamicUser=yes$/m);
      expect(unit).toMatch(/^CapabilityBoundingSet=$/m);
      expect(unit).toMatch(/^ProtectSystem=strict$/m);
      expect(unit).toMatch(/^NoNewPrivileges=yes$/m);
      expect(unit).toMatch(/^PrivateTmp=yes$/m);
    }
    expect(Number(/^LimitNOFILE=(\d+)$/m.exec(master)?.[1])).toBeGreaterThanOrEqual(65536);
    // The packaged executables, and the documentation the packages install.
    expect(agent).toMatch(/^ExecStart=\/usr\/bin\/cluster-agent run$/m);
    expect(master).toMatch(/^ExecStart=\/usr\/lib\/cluster-master\/cluster-master serve$/m);
    expect(agent).toMatch(/^Documentation=file:\/usr\/share\/doc\/cluster-agent\/README\.md$/m);
    expect(master).toMatch(/^Documentation=file:\/usr\/share\/doc\/cluster-master\/README\.md$/m);
  });
});
