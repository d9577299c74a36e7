import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { sharedRelease } from '../support/release-build.js';
import { registerWorker } from '../e2e/support/cluster.js';
import { ProcSet, spawnProc, type Proc } from '../e2e/support/processes.js';

// The arm64 artifacts of `pnpm release`, checked on this x86-64 machine: the
// packages as files beside their amd64 twins, and both executables run under
// Debian's qemu-aarch64-static, invoked explicitly (no binfmt handler is
// registered: that would change how the whole machine runs aarch64 programs).
// Emulated node starts in seconds, not milliseconds: few runs, generous waits.

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const WORKER = 'grace-1';
const EMULATED_MS = 120_000;

let work: string;
let release: string;
let version: string;
let emulator: string;
let database: TestDatabase;
const procs = new ProcSet();
/** lintian's verdict on both arm64 packages: started in beforeAll, read by the last test (see there). */
let lintian: Promise<{ code: number; text: string }>;

/** `qemu-aarch64-static -L <prefix> EXECUTABLE ARGS`: the guest's absolute paths are looked up under the prefix first. */
function emulated(executable: string, args: readonly string[], prefix = join(emulator, 'sysroot')): [string, string[]] {
  return [join(emulator, 'qemu-aarch64-static'), ['-L', prefix, executable, ...args]];
}

async function runEmulated(executable: string, args: readonly string[]): Promise<string> {
  const [file, argv] = emulated(executable, args);
  return (await run(file, argv, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, maxBuffer: 1 << 22, timeout: EMULATED_MS })).stdout;
}

/** e_machine of an ELF file (62 x86-64, 183 AArch64). */
async function elfMachine(path: string): Promise<number> {
  const file = await open(path, 'r');
  try {
    const { buffer } = await file.read({ buffer: Buffer.alloc(20), position: 0 });
    expect(buffer.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    return buffer.readUInt16LE(18);
  } finally {
    await file.close();
  }
}

const deb = (pkg: string, arch: string) => join(release, `${pkg}_${version}_${arch}.deb`);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'arm64-release-'));
  ({ dir: release, version } = await sharedRelease());
  // Started now and awaited by the last test: lintian is most of a minute of one core, which
  // it takes beside the emulated runs below (nice keeps it out of their way).
  lintian = run('nice', ['-n', '19', 'lintian', '--fail-on', 'error,warning', deb('cluster-agent', 'arm64'), deb('cluster-master', 'arm64')], {
    maxBuffer: 1 << 24,
  }).then(
    (r) => ({ code: 0, text: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, text: e.stdout + e.stderr }),
  );
  emulator = (await run('bash', [join(repo, 'scripts/release/arm64-emulator.sh')])).stdout.trim();
  database = await openTestDatabase('arm64');
}, 900_000);

afterAll(async () => {
  await procs.killAll();
  await database?.close();
  await lintian; // done already unless a step failed early
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the arm64 artifacts as files', () => {
  it('SHA256SUMS lists the arm64 executable and packages beside the x64 ones, and they match', async () => {
    const sums = await readFile(join(release, 'SHA256SUMS'), 'utf8');
    const names = sums.trim().split('\n').map((line) => line.split(/\s+/)[1]);
    expect(names).toEqual(
      expect.arrayContaining([
        `cluster-agent-${version}-linux-x64`,
        `cluster-agent-${version}-linux-arm64`,
        `cluster-agent_${version}_amd64.deb`,
        `cluster-agent_${version}_arm64.deb`,
        `cluster-master_${version}_amd64.deb`,
        `cluster-master_${version}_arm64.deb`,
      ]),
    );
    await run('sha256sum', ['--check', '--quiet', 'SHA256SUMS'], { cwd: release });
    expect(await elfMachine(join(release, `cluster-agent-${version}-linux-arm64`))).toBe(183);
    expect(await elfMachine(join(release, `cluster-agent-${version}-linux-x64`))).toBe(62);
  });

  it.each(['cluster-agent', 'cluster-master'])('%s arm64: dpkg-deb -I/-c like amd64 but Architecture: arm64, same conffiles and maintainer scripts', async (pkg) => {
    const info = (await run('dpkg-deb', ['-I', deb(pkg, 'arm64')])).stdout;
    expect(info).toMatch(/^ Architecture: arm64$/m);
    expect(info).toMatch(new RegExp(`^ Package: ${pkg}$`, 'm'));
    const fields = async (arch: string) =>
      (await run('dpkg-deb', ['-f', deb(pkg, arch)])).stdout.replace(/^(Architecture|Installed-Size): .*\n/gm, '');
    expect(await fields('arm64')).toBe(await fields('amd64'));

    for (const arch of ['amd64', 'arm64']) await run('dpkg-deb', ['-e', deb(pkg, arch), join(work, `${pkg}-${arch}-control`)]);
    const controlFiles = await readdir(join(work, `${pkg}-arm64-control`));
    expect(controlFiles.sort()).toEqual(['conffiles', 'control', 'md5sums', 'postinst', 'postrm', 'prerm']);
    for (const name of ['conffiles', 'postinst', 'prerm', 'postrm']) {
      expect(await readFile(join(work, `${pkg}-arm64-control`, name), 'utf8')).toBe(await readFile(join(work, `${pkg}-amd64-control`, name), 'utf8'));
    }

    // The same files with the same modes and owners; only the executable's size differs.
    const listing = async (arch: string) =>
      (await run('dpkg-deb', ['-c', deb(pkg, arch)])).stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/))
        .map(([mode, owner, size, , , path]) => `${mode} ${owner} ${path} ${path?.endsWith(`/${pkg}`) && mode?.startsWith('-rwx') ? '(executable)' : size}`);
    expect(await listing('arm64')).toEqual(await listing('amd64'));
  });
});

describe('the arm64 executables under qemu-aarch64-static', () => {
  it('cluster-agent --version and probe --json measure this machine', async () => {
    const exe = join(release, `cluster-agent-${version}-linux-arm64`);
    expect((await runEmulated(exe, ['--version'])).trim()).toBe(version);

    const report = JSON.parse(await runEmulated(exe, ['probe', '--json'])) as {
      specs: { total_cpu: number; total_memory: number; total_storage: number };
      cpu: { model: string };
      memory: { bytes: number };
    };
    const online = Number((await run('getconf', ['_NPROCESSORS_ONLN'])).stdout.trim());
    const memTotalKb = Number(/^MemTotal:\s+(\d+) kB$/m.exec(await readFile('/proc/meminfo', 'utf8'))?.[1]);
    expect(report.specs.total_cpu).toBe(online);
    expect(report.memory.bytes).toBe(memTotalKb * 1024);
    expect(report.specs.total_storage).toBeGreaterThan(0);
  }, 2 * EMULATED_MS);

  it('the master from its arm64 .deb answers /readyz; the arm64 agent is admitted by it, beats, and SIGTERM leaves the worker inactive', async () => {
    // The package's files as the root the emulated master sees (it finds web/ and package.json
    // at /usr/lib/cluster-master, where the package puts them), with the aarch64 C libraries beside.
    const root = join(work, 'master-arm64');
    await run('dpkg-deb', ['-x', deb('cluster-master', 'arm64'), root]);
    await run('cp', ['-rs', `${join(emulator, 'sysroot/lib')}/.`, join(root, 'lib')]);
    const target = { uri: database.uri, database: database.name };
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', MONGODB_URI: database.uri, MONGODB_DATABASE: database.name };
    const serve = ['serve', '--host', '127.0.0.1', '--port', '0', '--heartbeat-interval-ms', '1000', '--heartbeat-timeout-ms', '30000', '--flush-interval-ms', '200'];
    const [masterFile, masterArgs] = emulated(join(root, 'usr/lib/cluster-master/cluster-master'), serve, root);
    const master = procs.add(spawnProc('master-arm64', masterFile, masterArgs, env));
    const listening = await master.waitForRecord('listening', (r) => r.msg === 'listening', { timeoutMs: EMULATED_MS });
    const port = Number(listening.rec.port);
    await master.waitForRecord('registry loaded', (r) => r.msg === 'registry loaded', { timeoutMs: EMULATED_MS });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);

    const token = await registerWorker(target, WORKER);
    const [agentFile, agentArgs] = emulated(join(release, `cluster-agent-${version}-linux-arm64`), [
      'run',
      '--master-url',
      `ws://127.0.0.1:${port}/agent`,
      '--worker-id',
      WORKER,
      '--welcome-timeout-ms',
      '30000',
    ]);
    const agent: Proc = procs.add(spawnProc('agent-arm64', agentFile, agentArgs, { PATH: env.PATH, AGENT_TOKEN: token }));
    await agent.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: EMULATED_MS });

    const registry = database.db.collection('WORKER_REGISTRY');
    const beat = async () => Number((await registry.findOne({ worker_id: WORKER }))?.last_heartbeat ?? 0);
    const first = await until('the worker active with a heartbeat', async () => {
      const doc = await registry.findOne({ worker_id: WORKER });
      return doc?.is_active === true && Number(doc.last_heartbeat) > 0 ? Number(doc.last_heartbeat) : undefined;
    });
    await until('a later heartbeat written', async () => ((await beat()) > first ? true : undefined));

    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    expect(exit.code).toBe(0);
    await until('the worker inactive', async () => ((await registry.findOne({ worker_id: WORKER }))?.is_active === false ? true : undefined));
  }, 5 * EMULATED_MS);
});

describe('the arm64 packages, checked by lintian', () => {
  // Last in the file: lintian ran beside the steps above (started in beforeAll).
  it('lintian has no error or warning for either arm64 package', async () => {
    const out = await lintian;
    expect(out.text).not.toMatch(/^[EW]: /m);
    expect(out.code).toBe(0);
  }, 300_000);
});

/** Polls `check` (a database read) until it returns a value; the registry has no change feed here. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}\n${procs.diagnostics()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
