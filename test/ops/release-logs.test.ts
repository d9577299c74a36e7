import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';
import { sharedRelease } from '../support/release-build.js';
import { Spawned } from '../cli/spawned.js';

/**
 * The released single executables (no Node.js, no node_modules beside them)
 * as an operator meets them: in a terminal they print readable lines, through
 * a pipe JSON, and `pretty` turns a JSON log into readable lines by itself.
 * The terminal is a real pseudo-terminal (util-linux `script`).
 */

const run = promisify(execFile);
const ESC = String.fromCharCode(27);
const plain = (text: string): string => text.replaceAll(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), '').replaceAll('\r', '');
const HEAD = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN) \(cluster-agent\/\d+\): /m;
/** Only what the executables need: no Node.js on PATH. */
const ENV = { PATH: '/usr/bin:/bin', HOME: '/nonexistent', SHELL: '/bin/sh', TERM: 'xterm' };

let work: string;
let agent: string;
let master: string;

beforeAll(async () => {
  const { dir, version } = await sharedRelease();
  work = await mkdtemp(join(tmpdir(), 'release-logs-'));
  agent = join(dir, `cluster-agent-${version}-linux-x64`);
  await run('dpkg-deb', ['-x', join(dir, `cluster-master_${version}_amd64.deb`), join(work, 'master')]);
  // The executable itself (/usr/bin/cluster-master is a wrapper that runs it from /usr/lib).
  master = join(work, 'master/usr/lib/cluster-master/cluster-master');
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function agentArgs(port: number): string[] {
  return ['run', '--master-url', `ws://127.0.0.1:${port}/agent`, '--worker-id', 'tty-01', '--token', 'tok_0123456789abcdefghij', '--reconnect-base-ms', '200'];
}

describe("the released executables: their logs and their packages' documentation", () => {
  it('in a terminal the agent prints readable lines, coloured, not JSON', async () => {
    const command = `exec ${agent} ${agentArgs(await freePort()).join(' ')}`;
    const tty = new Spawned(spawn('script', ['-qfec', command, '/dev/null'], { env: ENV }));
    try {
      await tty.waitFor('the round line', (out) => plain(out).includes('next try in'));
    } finally {
      tty.child.kill('SIGKILL');
    }
    expect(tty.out).toContain(`${ESC}[33mWARN${ESC}[39m`);
    const text = plain(tty.out);
    expect(text).toMatch(HEAD);
    expect(text).toMatch(/ WARN \(cluster-agent\/\d+\): cannot connect to the master ws:\/\/127\.0\.0\.1:\d+\/agent: connection refused; next try in \d\.\d s\n {4}worker_id: "tty-01"\n/);
    expect(text.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
  });

  it('through a pipe the agent writes JSON, which `cluster-agent pretty` and `cluster-master pretty` make readable', async () => {
    const child = new Spawned(spawn(agent, agentArgs(await freePort()), { env: ENV }));
    try {
      await child.waitFor('the round line', (out) => out.includes('"event":"retry"'));
    } finally {
      child.child.kill('SIGKILL');
    }
    const json = child.out.split('\n').filter((line) => line.startsWith('{'));
    expect(json.length).toBeGreaterThan(2);
    // As `journalctl -o cat` gives it, with a line of its own that is not JSON.
    const log = join(work, 'agent.log');
    await writeFile(log, `${json.join('\n')}\n-- No entries --\n`);
    const fromStdin = await run('sh', ['-c', `${agent} pretty < ${log}`], { env: ENV });
    const fromFile = await run(master, ['pretty', log], { env: ENV });
    expect(fromFile.stdout).toBe(fromStdin.stdout);
    const text = fromStdin.stdout;
    // A file is read later: the date is on each line. Not a terminal: no colours.
    expect(text).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO \(cluster-agent\/\d+\): cluster-agent \S+ starting$/m);
    expect(text).toMatch(/\] WARN \(cluster-agent\/\d+\): cannot connect to the master .*: connection refused; next try in/);
    expect(text).not.toContain(ESC);
    expect(text.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
    expect(text).toContain('\n-- No entries --\n');

    const missing = await run(master, ['pretty', join(work, 'nothing.log')], { env: ENV }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^cluster-master: error \[USAGE\]: cannot read .*nothing\.log \(ENOENT\): name a file of JSON log lines, or pipe them in/);
  });

  it("both packages carry the operators' guide and a manual page with every command", async () => {
    const { dir, version } = await sharedRelease();
    for (const name of ['cluster-agent', 'cluster-master']) {
      const deb = join(dir, `${name}_${version}_amd64.deb`);
      const { stdout: files } = await run('dpkg-deb', ['-c', deb]);
      expect(files).toContain(`./usr/share/doc/${name}/operators-guide.md`);
      const { stdout: page } = await run('sh', ['-c', `dpkg-deb --fsys-tarfile ${deb} | tar -xOf - ./usr/share/man/man1/${name}.1.gz | gzip -dc`]);
      const sections = page.split('\n').filter((line) => line.startsWith('.SS '));
      expect(sections).toEqual(expect.arrayContaining(name === 'cluster-agent' ? ['.SS "cluster-agent run"', '.SS "cluster-agent pretty"'] : ['.SS "cluster-master admin token"', '.SS "cluster-master worker list"', '.SS "cluster-master pretty"']));
    }
  });
});
