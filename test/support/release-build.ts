import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
/** What the release is made of: a change under any of these makes a new build. */
const SOURCES = ['packages', 'scripts/release', 'packaging', 'systemd', 'package.json', 'pnpm-lock.yaml', 'README.md'];

export interface ReleaseBuild {
  /** The folder with every artifact of `release.sh --fast` and SHA256SUMS. */
  dir: string;
  version: string;
}

/**
 * One `release.sh --fast` (both architectures) shared by the test files that
 * check the artifacts: built once per state of the sources into
 * .cache/release-test/<hash>, under flock, so files running side by side wait
 * for the one build instead of each making its own (the arm64 steps run under
 * emulation and cost minutes on 2 cores). Older builds are removed.
 */
export async function sharedRelease(): Promise<ReleaseBuild> {
  const { stdout } = await run('git', ['ls-files', '-co', '--exclude-standard', '-z', '--', ...SOURCES], { cwd: repo, maxBuffer: 1 << 24 });
  const hash = createHash('sha256');
  for (const path of stdout.split('\0').filter(Boolean).sort()) {
    hash.update(path + '\0');
    hash.update(await readFile(join(repo, path)).catch(() => Buffer.from('(deleted)')));
  }
  const key = hash.digest('hex').slice(0, 16);
  const cache = join(repo, '.cache/release-test');
  await mkdir(cache, { recursive: true });
  const build = `
    set -euo pipefail
    cd "$1"
    if [ ! -f "$2/SHA256SUMS" ]; then
      find . -mindepth 1 -maxdepth 1 -type d ! -name "$2" -exec rm -rf {} +
      nice -n 19 bash "$3/scripts/release/release.sh" --fast --out "$1/$2.partial" >/dev/null
      mv "$2.partial" "$2"
    fi`;
  // flock blocks until the lock is free: no polling, and a build that died releases it.
  await run('flock', [join(cache, '.lock'), 'bash', '-c', build, 'build', cache, key, repo], { cwd: repo, maxBuffer: 1 << 24 });
  const version = (JSON.parse(await readFile(join(repo, 'packages/agent/package.json'), 'utf8')) as { version: string }).version;
  return { dir: join(cache, key), version };
}
