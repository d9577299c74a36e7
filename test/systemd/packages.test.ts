import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { Machine } from './support/machine.js';
import { freePort } from '../support/free-port.js';
import { sharedRelease } from '../support/release-build.js';

// The .deb packages under a real systemd (PID 1 of a throwaway machine, see
// container.sh): install, configure, crash, stop, upgrade, remove. The dev
// database runs outside; the master runs inside from its own package.

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const WORKER = 'ct-1';

let work: string;
let machine: Machine | undefined;
let database: TestDatabase;
let version: string;
let port: number;
const debs = { agent: '', agentNext: '', master: '', masterNext: '', executable: '' };
/** install-agent.sh and the unit it installs, copied where the machine sees them. */
let scriptCopy: string;
const sentinel = { path: '', text: randomBytes(8).toString('hex') };
/** lintian's verdict on both packages: started in beforeAll, read by the last test (see there). */
let lintian: Promise<{ code: number; text: string }>;
const started = performance.now();

function vm(): Machine {
  if (!machine) throw new Error('the machine did not boot');
  return machine;
}

async function workerActive(): Promise<boolean | undefined> {
  const doc = await database.db.collection('WORKER_REGISTRY').findOne({ worker_id: WORKER });
  return doc === null ? undefined : doc.is_active === true;
}

async function active(unit: string): Promise<boolean> {
  return (await vm().sh(`systemctl is-active ${unit}`)).stdout.trim() === 'active';
}

/** The `systemctl status` head (no journal lines), for the transcript. */
async function status(unit: string): Promise<string> {
  const out = await vm().sh(`systemctl status ${unit} --no-pager --lines=0`);
  console.log(out.stdout.trim());
  return out.stdout;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'systemd-packages-'));
  // A file of the machine's temporary directory that systemd's boot must leave alone.
  sentinel.path = join(work, 'sentinel');
  await writeFile(sentinel.path, sentinel.text);
  database = await openTestDatabase('systemd');
  version = (JSON.parse(await readFile(join(repo, 'packages/agent/package.json'), 'utf8')) as { version: string }).version;
  const out = join(work, 'release');
  // The release build shared with test/ops/arm64-release.test.ts (one per state of the sources);
  // copied here, where the machine sees it.
  const shared = await sharedRelease();
  await mkdir(out);
  for (const name of [`cluster-agent_${version}_amd64.deb`, `cluster-master_${version}_amd64.deb`, `cluster-agent-${version}-linux-x64`]) {
    await copyFile(join(shared.dir, name), join(out, name));
  }
  debs.agent = join(out, `cluster-agent_${version}_amd64.deb`);
  debs.master = join(out, `cluster-master_${version}_amd64.deb`);
  debs.executable = join(out, `cluster-agent-${version}-linux-x64`);
  // Info tags come from the embedded Node.js binary (spelling in its strings, its build's
  // hardening flags); the overrides in packaging/*/lintian-overrides say why each is there.
  // Started now and awaited by the last test: lintian is most of a minute of one core, and the
  // steps under systemd mostly wait; nice keeps it out of their way.
  lintian = run('nice', ['-n', '19', 'lintian', '--fail-on', 'error,warning', debs.agent, debs.master], { maxBuffer: 1 << 24 }).then(
    (r) => ({ code: 0, text: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, text: e.stdout + e.stderr }),
  );
  await mkdir(join(work, 'checkout/scripts'), { recursive: true });
  await mkdir(join(work, 'checkout/systemd'), { recursive: true });
  scriptCopy = join(work, 'checkout/scripts/install-agent.sh');
  await copyFile(join(repo, 'scripts/install-agent.sh'), scriptCopy);
  await copyFile(join(repo, 'systemd/cluster-agent.service'), join(work, 'checkout/systemd/cluster-agent.service'));
  // A newer version of the same executables, for the upgrades (the master's taken from its package).
  const masterTree = join(work, 'master-tree');
  await run('dpkg-deb', ['-x', debs.master, masterTree]);
  const next = (name: string, executable: string) =>
    run('nice', ['-n', '19', 'bash', join(repo, 'scripts/release/deb.sh'), name, `${version}+next1`, executable, join(work, 'next')], {
      cwd: repo,
      env: { ...process.env, DEB_COMPRESSION: 'none', SOURCE_DATE_EPOCH: '0' },
    }).then((r) => r.stdout.trim());
  [debs.agentNext, debs.masterNext] = await Promise.all([
    next('cluster-agent', join(out, `cluster-agent-${version}-linux-x64`)),
    next('cluster-master', join(masterTree, 'usr/lib/cluster-master/cluster-master')),
  ]);
  await rm(masterTree, { recursive: true, force: true });
  port = await freePort();
  machine = await Machine.boot(work);
}, 900_000);

afterAll(async () => {
  await machine?.kill();
  await database?.close();
  await lintian; // done already unless a step failed early; it reads from work
  if (work) await rm(work, { recursive: true, force: true });
  console.log(`systemd package test: ${((performance.now() - started) / 1000).toFixed(1)} s wall (build, boot and all steps)`);
});

describe('the packages under a real systemd', () => {
  it('runs in a machine of its own: the host temp dir survives, nothing written inside leaks out', async () => {
    expect(await vm().ok('cat /proc/1/comm')).toBe('systemd\n');
    expect((await vm().ok('systemctl is-system-running')).trim()).toBe('running');
    expect(await readFile(sentinel.path, 'utf8')).toBe(sentinel.text);
    expect(await vm().ok(`cat ${vm().inside(sentinel.path)}`)).toBe(sentinel.text);
    const leak = `/tmp/written-inside-${randomBytes(6).toString('hex')}`;
    await vm().ok(`echo inside > ${leak} && touch /etc/written-inside-${randomBytes(4).toString('hex')}`);
    await expect(access(leak)).rejects.toThrow();
    expect((await vm().ok('hostname')).trim()).toBe('cluster-test');
  });

  it('cluster-master: installs unstarted, then runs as a dynamic user, /readyz 200, the command works for root', async () => {
    const install = await vm().ok(`dpkg -i ${vm().inside(debs.master)}`);
    expect(install).toContain('cluster-master: not started: set MONGODB_URI (or MONGODB_HOST) in /etc/cluster-master/master.env');
    expect(await active('cluster-master')).toBe(false);
    expect((await vm().ok('stat -c %a /etc/cluster-master/master.env')).trim()).toBe('600');

    await vm().ok(
      `sed -i -e 's|^MONGODB_URI=.*|MONGODB_URI=${database.uri}|' -e 's|^MASTER_HOST=.*|MASTER_HOST=127.0.0.1|' ` +
        `-e 's|^MASTER_PORT=.*|MASTER_PORT=${port}|' /etc/cluster-master/master.env && echo MONGODB_DATABASE=${database.name} >>/etc/cluster-master/master.env`,
    );
    expect(await vm().ok('cluster-master db init')).toContain('WORKER_REGISTRY');
    await vm().ok('systemctl enable --now cluster-master');
    await vm().until('/readyz 200', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200);
    expect(await status('cluster-master')).toMatch(/Active: active \(running\)/);
    expect(await vm().prop('cluster-master', 'DynamicUser')).toBe('yes');
    // The fleet page's files come with the package (the sign-in form and the script it loads).
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<form/);
    expect((await fetch(`http://127.0.0.1:${port}/app.js`)).status).toBe(200);

    expect((await vm().ok('command -v cluster-master')).trim()).toBe('/usr/bin/cluster-master');
    expect((await vm().ok('cluster-master --version')).trim()).toBe(version);
    expect(await vm().ok(`cluster-master worker register ${WORKER} 127.0.0.1 --json >/srv/host/token.json && cluster-master worker list`)).toMatch(
      new RegExp(`^${WORKER}\\s+127\\.0\\.0\\.1\\s+no`, 'm'),
    );
  });

  it('cluster-agent: installs unstarted, then runs as a dynamic user and the worker turns active', async () => {
    const install = await vm().ok(`dpkg -i ${vm().inside(debs.agent)}`);
    expect(install).toContain('cluster-agent: not started: set AGENT_MASTER_URL and AGENT_TOKEN (or put the token in /etc/cluster-agent/token, mode 0600; or set AGENT_ENROLL_TOKEN for a rack enrolled with cluster-master enroll create) in /etc/cluster-agent/agent.env');
    expect(await active('cluster-agent')).toBe(false);
    expect((await vm().ok('stat -c %a /etc/cluster-agent/agent.env')).trim()).toBe('600');

    const token = (JSON.parse(await readFile(join(vm().dir, 'token.json'), 'utf8')) as { token: string }).token;
    // The token in /etc/cluster-agent/token, root-only (0600), AGENT_TOKEN left empty: the unit hands it to its
    // dynamic user through LoadCredential= ($CREDENTIALS_DIRECTORY/token).
    await vm().ok(`(umask 077 && printf '%s\\n' '${token}' >/etc/cluster-agent/token)`);
    expect((await vm().ok('stat -c "%a %U:%G" /etc/cluster-agent/token')).trim()).toBe('600 root:root');
    await vm().ok(
      `sed -i -e 's|^AGENT_MASTER_URL=.*|AGENT_MASTER_URL=ws://127.0.0.1:${port}/agent|' -e 's|^#AGENT_WORKER_ID=.*|AGENT_WORKER_ID=${WORKER}|' /etc/cluster-agent/agent.env`,
    );
    expect(await vm().ok('grep "^AGENT_TOKEN" /etc/cluster-agent/agent.env')).toBe('AGENT_TOKEN=\n');
    await vm().ok('systemctl enable --now cluster-agent');
    await vm().until('the worker active in the registry', async () => (await workerActive()) === true);
    expect(await status('cluster-agent')).toMatch(/Active: active \(running\)/);

    const pid = await vm().prop('cluster-agent', 'MainPID');
    const uid = Number((await vm().ok(`stat -c %u /proc/${pid}`)).trim());
    // systemd's dynamic users: 61184–65519; the name resolves only while the unit runs.
    expect(uid).toBeGreaterThanOrEqual(61184);
    expect(uid).toBeLessThanOrEqual(65519);
    expect(await vm().prop('cluster-agent', 'DynamicUser')).toBe('yes');
    expect((await vm().ok(`ps -o user= -p ${pid}`)).trim()).toBe('cluster-agent');

    // The agent's own user, in the agent's own mount namespace, cannot read the token file; the credential it
    // can, and nobody else (mode 0400, owned by that user, on a ramfs of the unit's own).
    const credentials = '/run/credentials/cluster-agent.service';
    const asAgent = (command: string) => vm().sh(`nsenter -t ${pid} -m setpriv --reuid=${uid} --regid=${uid} --clear-groups ${command}`);
    const direct = await asAgent('cat /etc/cluster-agent/token');
    expect(direct.code).not.toBe(0);
    expect(direct.stderr).toContain('Permission denied');
    expect((await asAgent(`cat ${credentials}/token`)).stdout.trim()).toBe(token);
    expect((await vm().ok(`nsenter -t ${pid} -m stat -c "%a %u" ${credentials}/token`)).trim()).toBe(`400 ${uid}`);
    expect((await vm().ok(`nsenter -t ${pid} -m findmnt -n -o FSTYPE ${credentials}`)).trim()).toBe('ramfs');
    expect(await vm().ok(`tr '\\0' '\\n' </proc/${pid}/environ | grep -E '^(CREDENTIALS_DIRECTORY|AGENT_TOKEN)=' | sort`)).toBe(
      `AGENT_TOKEN=\nCREDENTIALS_DIRECTORY=${credentials}\n`,
    );
    // The credentials' mounts stay in the machine: the host's mount table has none of them.
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain('/run/credentials/');
  });

  it('journalctl -u cluster-agent -o cat: the agent JSON lines', async () => {
    const lines = (await vm().ok('journalctl -u cluster-agent -o cat --no-pager _TRANSPORT=stdout')).trim().split('\n');
    const records = lines.map((line) => JSON.parse(line) as { name?: string; event?: string; msg?: string });
    expect(records.every((r) => r.name === 'cluster-agent')).toBe(true);
    expect(records.map((r) => r.event)).toEqual(expect.arrayContaining(['starting', 'admitted']));
  });

  it('kill -9 of the main PID: systemd restarts it and the worker is active again', async () => {
    const before = await vm().prop('cluster-agent', 'MainPID');
    const admitted = await vm().ok('journalctl -u cluster-agent -o cat --no-pager | grep -c \'"event":"admitted"\'');
    await vm().ok(`kill -9 ${before}`);
    await vm().until('a new main PID', async () => {
      const now = await vm().prop('cluster-agent', 'MainPID');
      return now !== before && now !== '0' && (await active('cluster-agent'));
    });
    expect(Number(await vm().prop('cluster-agent', 'NRestarts'))).toBeGreaterThanOrEqual(1);
    await vm().until('a second admission', async () => {
      const now = await vm().sh('journalctl -u cluster-agent -o cat --no-pager | grep -c \'"event":"admitted"\'');
      return Number(now.stdout) > Number(admitted);
    });
    expect(await workerActive()).toBe(true);
  });

  it('systemctl stop: the worker is inactive within 1 s; restart: active again', async () => {
    const stopAt = performance.now();
    await vm().ok('systemctl stop cluster-agent');
    await vm().until('the worker inactive', async () => (await workerActive()) === false, 5_000, 20);
    const inactiveMs = performance.now() - stopAt;
    console.log(`systemctl stop → is_active false: ${inactiveMs.toFixed(0)} ms`);
    expect(inactiveMs).toBeLessThan(1_000);
    expect(await active('cluster-agent')).toBe(false);

    await vm().ok('systemctl restart cluster-agent');
    await vm().until('the worker active again', async () => (await workerActive()) === true);
    expect(await active('cluster-agent')).toBe(true);
  });

  /** The worker's is_active every 100 ms while `during` runs; how many readings, and those that were not true (with when). */
  async function pollActive(during: (notActive: readonly { atMs: number }[]) => Promise<void>): Promise<{ readings: number; notActive: { atMs: number; value: boolean | undefined }[] }> {
    const startedAt = performance.now();
    const notActive: { atMs: number; value: boolean | undefined }[] = [];
    let readings = 0;
    let polling = true;
    const poll = (async () => {
      for (let next = startedAt; polling; next += 100) {
        const value = await workerActive();
        readings += 1;
        if (value !== true) notActive.push({ atMs: performance.now() - startedAt, value });
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, next + 100 - performance.now())));
      }
    })();
    try {
      await during(notActive);
    } finally {
      polling = false;
      await poll;
    }
    return { readings, notActive };
  }

  const masterLog = async (): Promise<{ msg?: string; worker_id?: string; cause?: string; planned_restart?: boolean; count?: number }[]> =>
    (await vm().ok('journalctl -u cluster-master -o cat --no-pager _TRANSPORT=stdout'))
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string });

  /** Restarts the master with `restart` and waits until the new one has admitted the agent and written a heartbeat for it. */
  async function masterRestartedAndWorkerBack(restart: () => Promise<void>): Promise<void> {
    const before = await vm().prop('cluster-master', 'MainPID');
    const admitted = (await masterLog()).filter((l) => l.msg === 'admitted').length;
    const restartedAt = new Date();
    const started = performance.now();
    await restart();
    const restartMs = performance.now() - started;
    expect(await vm().prop('cluster-master', 'MainPID')).not.toBe(before);
    await vm().until('the agent admitted by the new master', async () => (await masterLog()).filter((l) => l.msg === 'admitted').length > admitted);
    const admittedMs = performance.now() - started;
    await vm().until('a heartbeat written by the new master', async () => {
      const doc = await database.db.collection('WORKER_REGISTRY').findOne({ worker_id: WORKER });
      // last_heartbeat: whole Unix seconds of the master's clock (docs/WORKER_REGISTRY.md).
      return typeof doc?.last_heartbeat === 'number' && doc.last_heartbeat * 1000 >= restartedAt.getTime() + 1_000;
    });
    console.log(`restart: ${restartMs.toFixed(0)} ms; agent admitted again after ${admittedMs.toFixed(0)} ms, a new heartbeat written after ${(performance.now() - started).toFixed(0)} ms`);
  }

  it('a package upgrade of the master and `cluster-master restart` are planned restarts: the worker is never seen inactive', async () => {
    expect(await workerActive()).toBe(true);
    const from = (await masterLog()).length;
    const { readings, notActive } = await pollActive(async () => {
      await masterRestartedAndWorkerBack(async () => {
        await vm().ok(`dpkg -i ${vm().inside(debs.masterNext)}`);
        expect((await vm().ok("dpkg-query -W -f '${Version}' cluster-master")).trim()).toBe(`${version}+next1`);
        expect((await vm().ok('cluster-master --version')).trim()).toBe(`${version}+next1`);
      });
      await masterRestartedAndWorkerBack(async () => {
        expect(await vm().ok('cluster-master restart')).toBe('cluster-master.service restarted (planned: the workers it served were left active for the new master)\n');
      });
    });
    console.log(`planned restarts of the master (upgrade, cluster-master restart): ${readings} readings of is_active, ${notActive.length} not true`);
    expect(notActive).toEqual([]);
    expect(readings).toBeGreaterThan(20);
    const log = (await masterLog()).slice(from);
    expect(log.filter((l) => l.msg === 'shutting down').map((l) => l.planned_restart)).toEqual([true, true]);
    expect(log.filter((l) => l.msg === 'planned restart: workers left active for the next master')).toMatchObject([{ count: 1 }, { count: 1 }]);
    expect(log.filter((l) => l.msg === 'workers flagged inactive')).toEqual([]);
    // The marker went with the restart: a later stop is a stop.
    expect((await vm().sh('test -e /run/cluster-master/planned-restart')).code).not.toBe(0);
  }, 120_000);

  it('systemctl stop cluster-master: the worker is flagged after the hand-over grace, as a stop; started with TLS, its key by LoadCredential=', async () => {
    let stopMs = 0;
    const from = (await masterLog()).length;
    const { notActive } = await pollActive(async (seen) => {
      const stopAt = performance.now();
      await vm().ok('systemctl stop cluster-master', 30_000);
      stopMs = performance.now() - stopAt;
      await vm().until('the poll seeing the worker inactive', () => Promise.resolve(seen.length > 0), 5_000);
    });
    const firstInactiveMs = notActive[0]?.atMs ?? Number.NaN;
    console.log(`systemctl stop cluster-master: took ${stopMs.toFixed(0)} ms; is_active false first seen after ${firstInactiveMs.toFixed(0)} ms`);
    // The grace is heartbeat interval + 2 flushes + 2 s (9 s at the defaults): the agent's chance to move first.
    expect(firstInactiveMs).toBeGreaterThanOrEqual(8_000);
    expect(firstInactiveMs).toBeLessThan(stopMs + 1_000);
    const log = (await masterLog()).slice(from);
    expect(log.filter((l) => l.msg === 'shutting down').map((l) => l.planned_restart)).toEqual([false]);
    expect(log.filter((l) => l.msg === 'workers flagged inactive')).toMatchObject([{ cause: 'handover', count: 1 }]);

    // While it is stopped: TLS, with the key root-only (0600) in /etc/cluster-master/tls/key.pem, which the unit
    // hands to the master's dynamic user through LoadCredential= (master.env names the certificate only).
    const tls = '/etc/cluster-master/tls';
    await vm().ok(
      `mkdir -p ${tls} && (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 ` +
        `-addext subjectAltName=IP:127.0.0.1 -keyout ${tls}/key.pem -out ${tls}/cert.pem 2>/dev/null) && chmod 0644 ${tls}/cert.pem && ` +
        `echo MASTER_TLS_CERT=${tls}/cert.pem >>/etc/cluster-master/master.env`,
    );
    expect((await vm().ok(`stat -c "%a %U" ${tls}/key.pem`)).trim()).toBe('600 root');
    await vm().ok('systemctl start cluster-master');
    const https = `curl -s -o /dev/null -w '%{http_code}' --cacert ${tls}/cert.pem https://127.0.0.1:${port}/readyz`;
    await vm().until('https /readyz 200', async () => (await vm().sh(https)).stdout === '200');
    const masterPid = await vm().prop('cluster-master', 'MainPID');
    const masterUid = (await vm().ok(`stat -c %u /proc/${masterPid}`)).trim();
    const keyAsMaster = await vm().sh(`nsenter -t ${masterPid} -m setpriv --reuid=${masterUid} --regid=${masterUid} --clear-groups cat ${tls}/key.pem`);
    expect(keyAsMaster.stderr).toContain('Permission denied');

    // Back to plain ws:// for the steps below; the agent comes back at its own pace (the next step restarts it and waits for it).
    await vm().ok(`sed -i '/^MASTER_TLS_CERT=/d' /etc/cluster-master/master.env && systemctl restart cluster-master`);
    await vm().until('/readyz 200', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200);
  }, 90_000);

  it('systemd-analyze security rates the installed units at most 1.4 (agent) and 1.1 (master)', async () => {
    // Without unit names it prints one summary line per loaded unit.
    const out = await vm().ok('systemd-analyze security --no-pager | grep -E "^(UNIT|cluster-)"');
    console.log(out.trim());
    const figure = (unit: string) => Number(new RegExp(`^${unit}\\.service\\s+(\\d+\\.\\d+)`, 'm').exec(out)?.[1]);
    expect(figure('cluster-agent')).toBeLessThanOrEqual(1.4);
    expect(figure('cluster-master')).toBeLessThanOrEqual(1.1);
  });

  it('an upgrade keeps the edited environment file and restarts the agent', async () => {
    const env = await vm().ok('cat /etc/cluster-agent/agent.env');
    const before = await vm().prop('cluster-agent', 'MainPID');
    await vm().ok(`dpkg -i ${vm().inside(debs.agentNext)}`);
    expect((await vm().ok("dpkg-query -W -f '${Version}' cluster-agent")).trim()).toBe(`${version}+next1`);
    expect(await vm().ok('cat /etc/cluster-agent/agent.env')).toBe(env);
    expect((await vm().ok('stat -c %a /etc/cluster-agent/agent.env')).trim()).toBe('600');
    const after = await vm().prop('cluster-agent', 'MainPID');
    expect(after).not.toBe(before);
    expect(await active('cluster-agent')).toBe(true);
    await vm().until('the worker active after the upgrade', async () => (await workerActive()) === true);
    await status('cluster-agent');
  });

  it('apt remove stops the agent and removes its files; purge removes the configuration', async () => {
    await vm().ok('DEBIAN_FRONTEND=noninteractive apt-get remove -y cluster-agent', 120_000);
    expect(await active('cluster-agent')).toBe(false);
    await vm().until('the worker inactive after removal', async () => (await workerActive()) === false, 5_000);
    expect((await vm().sh('test -e /usr/bin/cluster-agent || test -e /lib/systemd/system/cluster-agent.service')).code).not.toBe(0);
    // A removed package keeps its configuration (conffiles) until purged.
    expect((await vm().sh('test -f /etc/cluster-agent/agent.env')).code).toBe(0);
    await vm().ok('dpkg --purge cluster-agent');
    expect((await vm().sh('test -e /etc/cluster-agent')).code).not.toBe(0);
    expect((await vm().ok("dpkg-query -W -f '${Status}' cluster-agent 2>&1 || true")).trim()).not.toMatch(/installed/);
  });

  it.each([
    ['the .deb', () => debs.agent],
    ['the executable', () => debs.executable],
  ])('scripts/install-agent.sh --from %s: configured, started, worker active; --uninstall: stopped and gone', async (_, artifact) => {
    const token = (JSON.parse(await readFile(join(vm().dir, 'token.json'), 'utf8')) as { token: string }).token;
    const out = await vm().ok(
      `printf '%s' '${token}' | bash ${vm().inside(scriptCopy)} --from ${vm().inside(artifact())} --master-url ws://127.0.0.1:${port}/agent --worker-id ${WORKER} --token-file -`,
      120_000,
    );
    expect(out.trim().split('\n').at(-1)).toBe('install-agent: cluster-agent installed and started; follow it with: journalctl -u cluster-agent -f');
    expect(await active('cluster-agent')).toBe(true);
    await vm().until('the worker active', async () => (await workerActive()) === true);

    const removal = await vm().ok(`bash ${vm().inside(scriptCopy)} --uninstall`, 120_000);
    expect(removal).toMatch(/install-agent: cluster-agent (package purged|removed from '\/')/);
    expect(await active('cluster-agent')).toBe(false);
    await vm().until('the worker inactive', async () => (await workerActive()) === false, 5_000);
    expect((await vm().sh('test -e /etc/cluster-agent || test -e /usr/local/bin/cluster-agent || test -e /etc/systemd/system/cluster-agent.service || test -e /usr/bin/cluster-agent')).code).not.toBe(0);
    // As long as the two script runs may take (apt inside the machine is slow on a loaded host).
  }, 240_000);

  it('the master package stops and goes the same way', async () => {
    await vm().ok('dpkg --purge cluster-master');
    expect(await active('cluster-master')).toBe(false);
    await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
    expect((await vm().sh('test -e /etc/cluster-master || test -e /usr/bin/cluster-master || test -e /usr/lib/cluster-master')).code).not.toBe(0);
  });
});

describe('the packages as files', () => {
  // Last in the file: lintian ran beside the steps above (started in beforeAll).
  it('lintian has no error or warning for either package', async () => {
    const out = await lintian;
    expect(out.text).not.toMatch(/^[EW]: /m);
    expect(out.code).toBe(0);
  }, 300_000);

  it('each installs its bash completion where bash-completion loads it', async () => {
    for (const [name, deb] of [['cluster-agent', debs.agent], ['cluster-master', debs.master]] as const) {
      const path = `./usr/share/bash-completion/completions/${name}`;
      const { stdout } = await run('bash', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -xO "$2"`, 'extract', deb, path]);
      expect(stdout).toContain(`complete -o bashdefault -o default -F _${name}_yargs_completions ${name}`);
    }
  });
});
