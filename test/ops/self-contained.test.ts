import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../cli/run-cli.js';

/**
 * A clone of the repository is all a user has: nothing in it may point at
 * files outside it (a team's shared folder) or at a tracker's numbers.
 */

/** The repository's files (tracked, and new ones not ignored), as a fresh clone would have them. */
function repositoryFiles(...patterns: string[]): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', ...patterns], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\n').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

describe('the repository stands alone', () => {
  it('no source, script or document points outside it or names a tracker number', () => {
    const offending: string[] = [];
    for (const file of repositoryFiles('*.ts', '*.md', '*.sh')) {
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\.\.\/shared|\bissue [0-9]/i.test(line)) offending.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offending).toEqual([]);
  });

  it('every relative link of every Markdown file leads to a file in the repository', () => {
    const broken: string[] = [];
    for (const file of repositoryFiles('*.md')) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target === undefined || /^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
        const path = join(dirname(join(ROOT, file)), target.split('#')[0] ?? '');
        if (!path.startsWith(ROOT) || !existsSync(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the contract and the design are in the repository, and the READMEs point there', () => {
    for (const doc of ['docs/WORKER_REGISTRY.md', 'docs/DESIGN.md']) expect(existsSync(join(ROOT, doc)), doc).toBe(true);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('](docs/WORKER_REGISTRY.md)');
    expect(readFileSync(join(ROOT, 'packages/master/README.md'), 'utf8')).toContain('](../../docs/WORKER_REGISTRY.md)');
  });
});
