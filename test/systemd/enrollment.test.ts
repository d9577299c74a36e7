import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { Machine } from './support/machine.js';
import { freePort } from '../support/free-port.js';
import { sharedRelease } from '../support/release-build.js';

// The rack flow under a real systemd (container.sh): the .deb agent with only the master URL and
// an enrollment token in agent.env enrolls, keeps its credential in the unit's StateDirectory=
// across a restart (the enrollment token revoked meanwhile) and a package upgrade; apt purge removes it.

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const WORKER = 'rack-07';
const CREDENTIAL = '/var/lib/private/cluster-agent/credential';

let work: string;
let machine: Machine | undefined;
let database: TestDatabase;
let port: number;
const debs = { agent: '', agentNext: '', master: '' };
const started = performance.now();

function vm(): Machine {
  if (!machine) throw new Error('the machine did not boot');
  return machine;
}

async function workerActive(): Promise<boolean> {
  const doc = await database.db.collection('WORKER_REGISTRY').findOne({ worker_id: WORKER });
  return doc?.is_active === true;
}

async function journalEvents(event: string): Promise<number> {
  const out = await vm().sh(`journalctl -u cluster-agent -o cat --no-pager | grep -c '"event":"${event}"'`);
  return Number(out.stdout.trim() || '0');
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'systemd-enroll-'));
  database = await openTestDatabase('systemd_enroll');
  const version = (JSON.parse(await readFile(join(repo, 'packages/agent/package.json'), 'utf8')) as { version: string }).version;
  const shared = await sharedRelease();
  const out = join(work, 'release');
  await mkdir(out);
  for (const name of [`cluster-agent_${version}_amd64.deb`, `cluster-master_${version}_amd64.deb`, `cluster-agent-${version}-linux-x64`]) {
    await copyFile(join(shared.dir, name), join(out, name));
  }
  debs.agent = join(out, `cluster-agent_${version}_amd64.deb`);
  debs.master = join(out, `cluster-master_${version}_amd64.deb`);
  const { stdout } = await run('nice', ['-n', '19', 'bash', join(repo, 'scripts/release/deb.sh'), 'cluster-agent', `${version}+next1`, join(out, `cluster-agent-${version}-linux-x64`), join(work, 'next')], {
    cwd: repo,
    env: { ...process.env, DEB_COMPRESSION: 'none', SOURCE_DATE_EPOCH: '0' },
  });
  debs.agentNext = stdout.trim();
  port = await freePort();
  machine = await Machine.boot(work);
}, 900_000);

afterAll(async () => {
  await machine?.kill();
  await database?.close();
  if (work) await rm(work, { recursive: true, force: true });
  console.log(`systemd enrollment test: ${((performance.now() - started) / 1000).toFixed(1)} s wall`);
});

describe('enrollment under a real systemd', () => {
  let tokenId = '';

  it('the master registers the worker without a token and creates an enrollment token', async () => {
    await vm().ok(`dpkg -i ${vm().inside(debs.master)}`);
    await vm().ok(
      `sed -i -e 's|^MONGODB_URI=.*|MONGODB_URI=${database.uri}|' -e 's|^MASTER_HOST=.*|MASTER_HOST=127.0.0.1|' ` +
        `-e 's|^MASTER_PORT=.*|MASTER_PORT=${port}|' /etc/cluster-master/master.env && echo MONGODB_DATABASE=${database.name} >>/etc/cluster-master/master.env`,
    );
    await vm().ok('cluster-master db init && systemctl enable --now cluster-master');
    await vm().until('/readyz 200', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200);
    await vm().ok(`echo '${WORKER} 127.0.0.1' | cluster-master worker register --from -`);
    const created = JSON.parse(await vm().ok(`cluster-master enroll create --workers 'rack-*' --ttl 1h --json >/srv/host/enroll.json && cat /srv/host/enroll.json`)) as { token_id: string };
    tokenId = created.token_id;
  });

  it('the .deb agent with only the URL and the enrollment token enrolls; the credential is 0600 in its StateDirectory', async () => {
    await vm().ok(`dpkg -i ${vm().inside(debs.agent)}`);
    const token = (JSON.parse(await readFile(join(work, 'enroll.json'), 'utf8')) as { token: string }).token;
    await vm().ok(
      `sed -i -e 's|^AGENT_MASTER_URL=.*|AGENT_MASTER_URL=ws://127.0.0.1:${port}/agent|' -e 's|^#AGENT_ENROLL_TOKEN=.*|AGENT_ENROLL_TOKEN=${token}|' ` +
        `-e 's|^#AGENT_WORKER_ID=.*|AGENT_WORKER_ID=${WORKER}|' /etc/cluster-agent/agent.env`,
    );
    await vm().ok('systemctl enable --now cluster-agent');
    await vm().until('the worker active in the registry', workerActive, 60_000);
    expect(await journalEvents('enrolled')).toBe(1);
    expect((await vm().ok(`stat -c '%a' ${CREDENTIAL}`)).trim()).toBe('600');
    expect((await vm().ok('readlink /var/lib/cluster-agent')).trim()).toBe('private/cluster-agent');
  });

  it('restarted, with the enrollment token revoked, it uses its stored credential', async () => {
    await vm().ok(`cluster-master enroll revoke ${tokenId}`);
    const enrolling = await journalEvents('enrolling');
    const admitted = await journalEvents('admitted');
    await vm().ok('systemctl restart cluster-agent');
    await vm().until('a new admission', async () => (await journalEvents('admitted')) > admitted, 30_000);
    expect(await journalEvents('enrolling')).toBe(enrolling);
  });

  it('a package upgrade keeps the credential', async () => {
    const credential = await vm().ok(`cat ${CREDENTIAL}`);
    const admitted = await journalEvents('admitted');
    // The package's postinst restarts an agent configured by enrollment itself (no systemctl restart here).
    await vm().ok(`dpkg -i ${vm().inside(debs.agentNext)}`, 120_000);
    await vm().until('admitted after the upgrade', async () => (await journalEvents('admitted')) > admitted, 60_000);
    expect(await vm().ok(`cat ${CREDENTIAL}`)).toBe(credential);
    expect(await journalEvents('enrolled')).toBe(1);
  }, 180_000);

  it('apt purge removes the state directory and the credential in it', async () => {
    await vm().ok('DEBIAN_FRONTEND=noninteractive apt-get purge -y cluster-agent', 120_000);
    expect((await vm().sh(`test -e ${CREDENTIAL} || test -e /var/lib/cluster-agent`)).code).not.toBe(0);
  }, 180_000);
});
