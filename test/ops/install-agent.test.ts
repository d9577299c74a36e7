import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const script = join(repo, 'scripts/install-agent.sh');
const token = 'A'.repeat(20) + '_-b3';

let work: string;
let bundle: string;

async function install(root: string, ...args: string[]) {
  return run('bash', [script, '--root', root, '--bundle', bundle, '--master-url', 'wss://master.test:8443/agent', ...args], {
    cwd: repo,
  });
}

function mode(path: string) {
  return stat(path).then((s) => (s.mode & 0o777).toString(8));
}

/** Every symlink in the bundle must stay inside it: no links back into the workspace. */
async function linksLeavingTree(dir: string, top = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) {
      const target = resolve(dir, await readlink(path));
      if (!target.startsWith(top)) out.push(`${path} -> ${target}`);
    } else if (entry.isDirectory()) {
      out.push(...(await linksLeavingTree(path, top)));
    }
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'install-agent-'));
  const { stdout } = await run('bash', [join(repo, 'scripts/build-agent-bundle.sh'), join(work, 'bundle')], { cwd: repo });
  bundle = stdout.trim().split('\n').at(-1) ?? '';
}, 180_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('scripts/install-agent.sh', () => {
  it('lays down the bundle, the unit and a 0600 env file under a temporary root', async () => {
    const root = join(work, 'root1');
    const tokenFile = join(work, 'token');
    await writeFile(tokenFile, `${token}\n`);
    const ca = join(work, 'ca.pem');
    await writeFile(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const { stdout } = await install(root, '--worker-id', 'gpu-07', '--token-file', tokenFile, '--ca-file', ca);
    expect(stdout).toContain('installed');

    const env = await readFile(join(root, 'etc/cluster-agent/agent.env'), 'utf8');
    expect(await mode(join(root, 'etc/cluster-agent/agent.env'))).toBe('600');
    expect(env).toContain('AGENT_MASTER_URL=wss://master.test:8443/agent');
    expect(env).toContain('AGENT_WORKER_ID=gpu-07');
    expect(env).toContain(`AGENT_TOKEN=${token}`);
    expect(env).toContain('AGENT_CA_FILE=/etc/cluster-agent/ca.pem');
    expect(await mode(join(root, 'etc/cluster-agent/ca.pem'))).toBe('644');

    const unit = await readFile(join(root, 'etc/systemd/system/cluster-agent.service'), 'utf8');
    expect(await mode(join(root, 'etc/systemd/system/cluster-agent.service'))).toBe('644');
    expect(unit).toContain(`ExecStart=${process.execPath} --lite-mode --no-expose-wasm /opt/cluster-agent/dist/main.js run`);
    expect(unit).toContain('EnvironmentFile=/etc/cluster-agent/agent.env');

    const opt = join(root, 'opt/cluster-agent');
    expect(await mode(join(opt, 'dist/main.js'))).toMatch(/^[67]44$/);
    // No dev dependencies were installed, and nothing links back into the workspace.
    for (const dev of ['vitest', 'typescript', 'eslint', '@types/ws']) {
      await expect(lstat(join(opt, 'node_modules', dev))).rejects.toThrow();
    }
    expect(await linksLeavingTree(opt)).toEqual([]);
    await expect(lstat(join(opt, 'src'))).rejects.toThrow();

    // The installed agent runs from its own directory alone.
    const help = await run(process.execPath, [join(opt, 'dist/main.js'), '--help'], { cwd: work });
    expect(help.stdout).toMatch(/run/);
  });

  it('upgrades in place and keeps the env file private', async () => {
    const root = join(work, 'root2');
    await install(root, '--worker-id', 'w1', '--token', token);
    await writeFile(join(root, 'opt/cluster-agent/stale-file'), 'from the old version');
    const { stdout } = await install(root, '--worker-id', 'w1', '--token', `${token}x2`);
    expect(stdout).toContain('upgraded');
    await expect(lstat(join(root, 'opt/cluster-agent/stale-file'))).rejects.toThrow();
    await expect(lstat(join(root, 'opt/cluster-agent.new'))).rejects.toThrow();
    expect(await readFile(join(root, 'etc/cluster-agent/agent.env'), 'utf8')).toContain(`AGENT_TOKEN=${token}x2`);
    expect(await mode(join(root, 'etc/cluster-agent/agent.env'))).toBe('600');
  });

  it('--dry-run changes nothing and never prints the token', async () => {
    const root = join(work, 'root3');
    const { stdout } = await install(root, '--worker-id', 'w1', '--token', token, '--dry-run');
    expect(stdout).toMatch(/would/);
    expect(stdout).not.toContain(token);
    await expect(lstat(root)).rejects.toThrow();
  });

  it('--uninstall removes everything it installed', async () => {
    const root = join(work, 'root4');
    await install(root, '--worker-id', 'w1', '--token', token);
    await run('bash', [script, '--root', root, '--uninstall']);
    await expect(lstat(join(root, 'opt/cluster-agent'))).rejects.toThrow();
    await expect(lstat(join(root, 'etc/cluster-agent'))).rejects.toThrow();
    await expect(lstat(join(root, 'etc/systemd/system/cluster-agent.service'))).rejects.toThrow();
  });

  it.each([
    [['--token', token], /--master-url is required/],
    [['--master-url', 'http://x/agent', '--token', token], /must be ws/],
    [['--master-url', 'ws://m:1/agent'], /--token or --token-file is required/],
    [['--master-url', 'ws://m:1/agent', '--token', 'short'], /does not look like/],
    [['--master-url', 'ws://m:1/agent', '--token', token, '--worker-id', 'a$b'], /invalid worker id/],
    [['--master-url', 'ws://m:1/agent', '--token-file', '/nonexistent'], /cannot read token file/],
    [['--bogus'], /unknown option/],
  ])('refuses bad arguments %j with exit 2 before touching anything', async (args: string[], message: RegExp) => {
    const root = join(work, 'bad');
    const failure = await run('bash', [script, '--root', root, '--bundle', bundle, ...args]).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(message);
    expect(failure?.stderr.trim().split('\n')).toHaveLength(1);
    await expect(lstat(root)).rejects.toThrow();
  });
});
