import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as agentSide from './agent-side.js';
import * as main from './index.js';

/** The modules a source file loads when it runs: `import … from` and `export … from`, not the type-only ones. */
function runtimeImports(file: URL): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?\sfrom\s+'([^']+)';/gms)) if (m[2] === undefined) found.push(m[3] as string);
  for (const m of text.matchAll(/^import\s+'([^']+)';/gm)) found.push(m[1] as string);
  return found;
}

describe('@cluster/protocol/agent-side', () => {
  it('loads no zod, directly or through another file of the package', () => {
    const seen = new Set<string>();
    const loaded: string[] = [];
    const visit = (file: URL) => {
      if (seen.has(file.href)) return;
      seen.add(file.href);
      for (const spec of runtimeImports(file)) {
        loaded.push(spec);
        if (spec.startsWith('.')) visit(new URL(spec.replace(/\.js$/, '.ts'), file));
      }
    };
    visit(new URL('./agent-side.ts', import.meta.url));
    expect(seen.size).toBeGreaterThan(5);
    expect(loaded.filter((spec) => !spec.startsWith('.'))).toEqual([]);
  });

  it('exports the same values as the main entry', () => {
    for (const [name, value] of Object.entries(agentSide)) expect(main[name as keyof typeof main], name).toBe(value);
  });
});
