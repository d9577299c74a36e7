import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInvocation } from '../../packages/agent/src/config.js';
import { runCli as runMaster } from '../../packages/master/src/cli/program.js';
import { ROOT } from '../cli/run-cli.js';

/**
 * The manual pages the packages install (scripts/release/manpage.sh), made
 * from the built CLIs here (the release runs the same script on its
 * executables): every command of both CLIs, at every level, has its section,
 * and every option its help lists is in that section. The commands and
 * options are read here from the CLIs' yargs definitions (their help, in
 * this process): a command added to either CLI shows up in its page, or this
 * test says which is missing. man renders both pages without
 * a warning (what lintian checks).
 */

const run = promisify(execFile);
let work: string;
const pages = new Map<string, string>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'manpages-'));
  for (const [name, main] of [
    ['cluster-agent', 'packages/agent/dist/main.js'],
    ['cluster-master', 'packages/master/dist/main.js'],
  ] as const) {
    const bin = join(work, name);
    await writeFile(bin, `#!/bin/sh\nexec ${process.execPath} ${join(ROOT, main)} "$@"\n`);
    await chmod(bin, 0o755);
    const { stdout } = await run('bash', [join(ROOT, 'scripts/release/manpage.sh'), name, '1.2.3', bin], { env: { PATH: process.env.PATH, SOURCE_DATE_EPOCH: '0' } });
    pages.set(name, stdout);
    await writeFile(join(work, `${name}.1`), stdout);
  }
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A command's --help, from the CLI's own yargs definitions, in this process (spawning each costs a second on a busy machine). */
async function helpOf(name: string, words: readonly string[]): Promise<string> {
  const argv = [...words, '--help'];
  if (name === 'cluster-agent') {
    const invocation = await parseInvocation(argv, {}, { hostname: () => 'host', readFile: () => Promise.reject(new Error('no file')), version: '1.2.3' });
    if (invocation.command !== 'print') throw new Error(`cluster-agent ${argv.join(' ')}: no help`);
    return invocation.output;
  }
  let out = '';
  await runMaster({ argv, env: {}, stdout: (t) => (out += t), stderr: (t) => (out += t), version: '1.2.3' });
  return out;
}

/** Every command path under `words`, depth first, from the "Commands:" lists (the completion command itself is no topic). */
async function commandTree(name: string, words: readonly string[] = []): Promise<{ words: string[]; help: string }[]> {
  const help = await helpOf(name, words);
  const list = help.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
  const prefix = `  ${[name, ...words].join(' ')} `;
  const out: { words: string[]; help: string }[] = [];
  for (const line of list.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const sub = line.slice(prefix.length).split(' ')[0] as string;
    if (sub === 'completion') continue;
    out.push({ words: [...words, sub], help: await helpOf(name, [...words, sub]) }, ...(await commandTree(name, [...words, sub])));
  }
  return out;
}

/** The roff text of one command's section (from its .SS line to the next .SS or .SH). */
function section(page: string, title: string): string | undefined {
  const start = page.indexOf(`\n.SS "${title}"\n`);
  if (start === -1) return undefined;
  const rest = page.slice(start + 1);
  const end = rest.slice(1).search(/\n\.S[SH] /);
  return end === -1 ? rest : rest.slice(0, end + 1);
}

describe('manual pages', () => {
  it.each(['cluster-agent', 'cluster-master'])('%s: a section for every command at every level, with every option of its help', async (name) => {
    const page = pages.get(name) as string;
    const tree = await commandTree(name);
    expect(tree.length).toBeGreaterThan(name === 'cluster-master' ? 12 : 2);
    const missing: string[] = [];
    for (const { words, help } of tree) {
      const title = `${name} ${words.join(' ')}`;
      const text = section(page, title);
      if (text === undefined) {
        missing.push(`no section: ${title}`);
        continue;
      }
      for (const [, option] of help.matchAll(/^ {2}(?:-\w, )? *(--[a-z0-9-]+)/gm)) if (!text.includes(option as string)) missing.push(`${title}: ${option}`);
    }
    expect(missing).toEqual([]);
  });

  it("the master's page has what the first pass missed: admin token, worker list's filters and --watch", () => {
    const page = pages.get('cluster-master') as string;
    expect(section(page, 'cluster-master admin token')).toContain('--label');
    const list = section(page, 'cluster-master worker list') ?? '';
    for (const option of ['--gpu-model', '--min-gpu-memory', '--arch', '--watch']) expect(list).toContain(option);
  });

  it.each(['cluster-agent', 'cluster-master'])('%s: man renders it without a warning, and it points at the operators guide', async (name) => {
    const { stderr } = await run('man', ['--warnings', '-E', 'UTF-8', '-l', '-Tutf8', '-Z', join(work, `${name}.1`)], {
      env: { ...process.env, LC_ALL: 'C.UTF-8', MANROFFSEQ: '', MANWIDTH: '80' },
    });
    expect(stderr).toBe('');
    expect(pages.get(name)).toContain(`/usr/share/doc/${name}/operators-guide.md`);
  });
});

describe("the operators' guide (scripts/release/operators-guide.sh)", () => {
  it("is the README's Operations part, for an installed host: no link into the sources, the log events and the several-masters setup in it", async () => {
    const { stdout: guide } = await run('bash', [join(ROOT, 'scripts/release/operators-guide.sh'), '1.2.3']);
    expect(guide.split('\n')[0]).toBe("# cluster worker registry 1.2.3: operator's guide");
    const headings = guide.split('\n').filter((line) => line.startsWith('## '));
    expect(headings).toEqual(expect.arrayContaining(['## Installing', '## Following the daemons', '## Health and metrics', '## Several masters']));
    // Relative links lead nowhere once installed; web links stay.
    expect([...guide.matchAll(/\]\((?![a-z][a-z0-9+.-]*:)[^)]*\)/g)].map((m) => m[0])).toEqual([]);
    expect(guide).toMatch(/^\| agent \| `retry` \|/m);
    expect(guide).toContain('cluster-agent pretty');
    // It starts where an operator does (the packages), not with a checkout's pnpm commands.
    expect(guide.indexOf('sudo apt install ./cluster-master_')).toBeGreaterThan(0);
    expect(guide.slice(0, guide.indexOf('sudo apt install ./cluster-master_'))).not.toMatch(/pnpm (install|-s|exec)/);
  });
});
