// Bundles one daemon's compiled entry (packages/<name>/dist/main.js) and all of
// its dependencies into a single CommonJS file, the form a Node 20 single
// executable application runs (its embedded script cannot be an ES module).
//
//   node scripts/release/bundle.mjs --entry ENTRY --out OUT --version VERSION
//        [--meta-url URL] ['--v8-flags=FLAG …']
//
// --meta-url stands for import.meta.url in the bundle (CommonJS has no
// import.meta; default: the file itself): the master reads its version from
// ../package.json next to it, so its package installs that file where URL says.
// --v8-flags are set first thing (v8.setFlagsFromString): a single executable
// on Node 20 takes no node options of its own (sea-config execArgv came later).
//
// Optional native or cloud add-ons of the MongoDB driver and of ws stay out:
// both load them inside try/catch and work without them (no Kerberos, Snappy,
// zstd, client-side encryption, AWS/GCP credentials or SOCKS proxy; plain
// JavaScript masking in ws).
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import ts from 'typescript';

const { values: opts } = parseArgs({
  options: { entry: { type: 'string' }, out: { type: 'string' }, version: { type: 'string' }, 'meta-url': { type: 'string' }, 'v8-flags': { type: 'string' } },
});
const { entry, out, version, 'meta-url': metaUrl, 'v8-flags': v8Flags = '' } = opts;
if (!entry || !out || !version) {
  process.stderr.write('usage: bundle.mjs --entry ENTRY --out OUT --version VERSION [--meta-url URL] [--v8-flags=FLAGS]\n');
  process.exit(2);
}
const setFlags = v8Flags
  .split(/\s+/)
  .filter(Boolean)
  .map((flag) => `require("node:v8").setFlagsFromString(${JSON.stringify(flag)});`)
  .join('');

const optionalAddOns = [
  'kerberos',
  'snappy',
  '@mongodb-js/zstd',
  'mongodb-client-encryption',
  '@aws-sdk/credential-providers',
  'gcp-metadata',
  'socks',
  'aws4',
  'bufferutil',
  'utf-8-validate',
];

/**
 * CommonJS has no top-level await, which an entry may use (`process.exitCode =
 * await runCli(…)`). Its import declarations stay on top and everything else
 * runs inside one async function. An entry that exports anything is refused:
 * wrapping would hide the export.
 */
function wrapTopLevelAwait(text, path) {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const imports = [];
  const body = [];
  for (const statement of source.statements) {
    const code = text.slice(statement.getFullStart(), statement.getEnd());
    if (ts.isImportDeclaration(statement)) imports.push(code);
    else if (ts.isExportDeclaration(statement) || ts.isExportAssignment(statement) || hasExportModifier(statement)) {
      throw new Error(`${path}: an entry that exports cannot be wrapped`);
    } else body.push(code);
  }
  return `${imports.join('\n')}\n(async () => {\n${body.join('\n')}\n})().catch((err) => {\n  process.stderr.write(String(err && err.stack || err) + '\\n');\n  process.exit(1);\n});\n`;
}

function hasExportModifier(statement) {
  return ts.canHaveModifiers(statement) && (ts.getModifiers(statement) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

/**
 * A single executable's require() loads built-in modules only and prints a
 * warning on every other name, so an absent add-on is a module that throws
 * what Node throws for a missing module; the try/catch around it takes over.
 */
const absentAddOns = {
  name: 'absent-add-ons',
  setup(b) {
    const names = new RegExp(`^(${optionalAddOns.map((n) => n.replace(/[/.-]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter: names }, (args) => ({ path: args.path, namespace: 'absent' }));
    b.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`Cannot find module '${args.path}'`)}), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

const entryPath = resolve(entry);
const wrapEntry = {
  name: 'wrap-entry',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (args.path !== entryPath) return undefined;
      return { contents: wrapTopLevelAwait(await readFile(args.path, 'utf8'), args.path), loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

await build({
  entryPoints: [entryPath],
  outfile: out,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  plugins: [wrapEntry, absentAddOns],
  banner: { js: `${setFlags}var __bundleUrl = require("node:url").pathToFileURL(__filename).href;` },
  // The version the daemon reports, known at build time: a single executable has no package.json beside it.
  define: {
    CLUSTER_BUNDLED_VERSION: JSON.stringify(version),
    // Without META_URL: the file itself (the executable, in a single executable application).
    'import.meta.url': metaUrl ? JSON.stringify(metaUrl) : '__bundleUrl',
  },
  // No source maps, no absolute build paths, no timestamps: the same sources give the same bytes.
  legalComments: 'none',
  minifySyntax: true,
  minifyWhitespace: true,
  keepNames: true,
  logLevel: 'error',
  logOverride: { 'empty-import-meta': 'silent' },
});
