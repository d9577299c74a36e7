import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { ROOT, startDevDb, startMaster, stopDevDb, installedAgentNodeFlags } from './processes.js';
import { readyz } from './prom.js';
import { seedWorkers, workerIds } from './seed.js';
import { TcpCutter } from './tcp-cutter.js';
import { progress, sleep, waitUntil } from './util.js';

/**
 * The soak's real-agent part at a compressed pace, for several ways of
 * running the agent side by side in one run (scripts/bench/README.md,
 * "Real agent through reconnects"): one master, and per variant a real
 * `cluster-agent run` behind its own TCP relay that cuts each connection
 * `--cut-ms` after it was made (the agent reconnects with its backoff, capped
 * at `--cap-ms`). Every `--sample-s` each agent's VmRSS, RssAnon and RssFile
 * are read from /proc. Reported per variant: the range of RSS after the first
 * 100 reconnects, over every sample and over one sample per 24 reconnects
 * (the hour-long soak takes one a minute, ~24 reconnects apart), and CPU.
 *
 *   node scripts/bench/dist/reconnect-rss-main.js --duration-s 600 \
 *     --variant 'shipped=' --variant 'semi1=--max-semi-space-size=1' --variant 'arena2=MALLOC_ARENA_MAX=2'
 *
 * A variant is NAME=WORDS: words starting with `--` are node/V8 flags added
 * after the release's `--v8-flags` (`--no-release-flags` drops those), K=V
 * words are environment variables, `main:PATH` runs that entry instead of
 * packages/agent/dist/main.js (another build of the agent, e.g. a copy of
 * the dist of the commit before, inside packages/agent so that its imports
 * resolve), and `exe:PATH` runs that executable (a built single executable)
 * instead of `node …`.
 */

interface Variant {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}

interface Sample {
  atS: number;
  reconnects: number;
  rss: number;
  anon: number;
  file: number;
  cpuMs: number;
}

const { values: opts } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [] },
    'duration-s': { type: 'string', default: '600' },
    'cut-ms': { type: 'string', default: '400' },
    'cap-ms': { type: 'string', default: '400' },
    'sample-s': { type: 'string', default: '2' },
    'no-release-flags': { type: 'boolean', default: false },
    'mongo-uri': { type: 'string' },
    out: { type: 'string' },
  },
});

const durationMs = Number(opts['duration-s']) * 1000;
const cutMs = Number(opts['cut-ms']);
const capMs = Number(opts['cap-ms']);
const sampleMs = Number(opts['sample-s']) * 1000;
const releaseFlags = opts['no-release-flags'] ? [] : installedAgentNodeFlags();
const AGENT_MAIN = `${ROOT}packages/agent/dist/main.js`;
/** The soak samples once a soak minute: about 24 reconnects apart at its 1.5 s cut and 2 s cap. */
const SOAK_RECONNECTS_PER_SAMPLE = 24;
const SKIP_RECONNECTS = 100;

function parseVariant(text: string): Variant {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`--variant NAME=WORDS, not ${JSON.stringify(text)}`);
  const name = text.slice(0, eq);
  const words = text.slice(eq + 1).split(/\s+/).filter(Boolean);
  const flags = words.filter((w) => w.startsWith('--'));
  const env = Object.fromEntries(words.filter((w) => !w.startsWith('--') && !w.startsWith('exe:') && !w.startsWith('main:') && w.includes('=')).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  const exe = words.find((w) => w.startsWith('exe:'))?.slice(4);
  const main = words.find((w) => w.startsWith('main:'))?.slice(5);
  // An executable carries its own V8 flags; extra flags go to NODE_OPTIONS there.
  if (exe !== undefined) return { name, command: exe, args: [], env: flags.length > 0 ? { ...env, NODE_OPTIONS: flags.join(' ') } : env };
  return { name, command: process.execPath, args: [...releaseFlags, ...flags, main ?? AGENT_MAIN], env };
}

function status(pid: number): { rss: number; anon: number; file: number; cpuMs: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), cpuMs };
  } catch {
    return undefined;
  }
}

function range(values: readonly number[]): { min: number; max: number; range: number } | undefined {
  if (values.length === 0) return undefined;
  const min = Math.min(...values);
  const max = Math.max(...values);
  return { min, max, range: max - min };
}

const mb = (bytes: number | undefined, digits = 2) => (bytes === undefined ? '—' : (bytes / 1e6).toFixed(digits));

function summarise(samples: readonly Sample[]) {
  const after = samples.filter((s) => s.reconnects >= SKIP_RECONNECTS);
  // One sample per SOAK_RECONNECTS_PER_SAMPLE reconnects: the first sample at or past each step.
  const soakLike: Sample[] = [];
  let next = SKIP_RECONNECTS;
  for (const s of after) {
    if (s.reconnects >= next) {
      soakLike.push(s);
      next = s.reconnects + SOAK_RECONNECTS_PER_SAMPLE;
    }
  }
  const last = samples.at(-1);
  const firstAfter = after[0];
  const cpuPerReconnectMs = last && firstAfter && last.reconnects > firstAfter.reconnects ? (last.cpuMs - firstAfter.cpuMs) / (last.reconnects - firstAfter.reconnects) : undefined;
  return {
    reconnects: last?.reconnects ?? 0,
    samplesAfter100: after.length,
    rssAfter100: range(after.map((s) => s.rss)),
    anonAfter100: range(after.map((s) => s.anon)),
    fileAfter100: range(after.map((s) => s.file)),
    soakLikeSamples: soakLike.length,
    rssSoakLike: range(soakLike.map((s) => s.rss)),
    rssMedianAfter100: after.length === 0 ? undefined : [...after.map((s) => s.rss)].sort((a, b) => a - b)[Math.floor(after.length / 2)],
    cpuMs: last?.cpuMs,
    cpuPerReconnectMs,
  };
}

async function main(): Promise<void> {
  const variants = (opts.variant.length > 0 ? opts.variant : ['shipped=']).map(parseVariant);
  const runDir = `${ROOT}.cache/reconnect-rss/${new Date().toISOString().replace(/[:.]/g, '-')}`;
  mkdirSync(runDir, { recursive: true });
  const dbState = `${ROOT}.cache/reconnect-rss/db`;
  let uri = opts['mongo-uri'];
  const ownDb = uri === undefined;
  if (uri === undefined) {
    progress(`starting the dev database (${dbState})`);
    uri = await startDevDb(dbState);
  }
  const database = `reconnect_rss_${process.pid}`;
  const client = await MongoClient.connect(uri);
  const children: ChildProcess[] = [];
  const cutters: TcpCutter[] = [];
  const master = await startMaster({ mongoUri: uri, database, port: 0, logFile: `${runDir}/master.log`, inspect: false });
  try {
    const workers = await seedWorkers(client.db(database), workerIds(variants.length), '127.0.0.1', undefined);
    await waitUntil('the master to be ready', async () => ((await readyz(master.port)) === 200 ? true : undefined), 120_000, 200);
    const runs = await Promise.all(
      variants.map(async (variant, i) => {
        const cutter = new TcpCutter(master.port, cutMs);
        cutters.push(cutter);
        const port = await cutter.listen();
        const worker = workers[i];
        if (worker === undefined) throw new Error('no worker seeded');
        const fd = openSync(`${runDir}/agent-${variant.name}.log`, 'a');
        const child = spawn(variant.command, [...variant.args, 'run', '--master-url', `ws://127.0.0.1:${port}`, '--worker-id', worker.workerId], {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            AGENT_TOKEN: worker.token,
            LOG_LEVEL: 'info',
            AGENT_RECONNECT_BASE_MS: String(Math.min(capMs, 1_000)),
            AGENT_RECONNECT_CAP_MS: String(capMs),
            ...variant.env,
          },
          stdio: ['ignore', fd, fd],
        });
        closeSync(fd);
        children.push(child);
        return { variant, cutter, child, samples: [] as Sample[] };
      }),
    );
    progress(`${variants.length} agents, each connection cut after ${cutMs} ms, reconnect cap ${capMs} ms, ${durationMs / 1000} s; run dir ${runDir}`);
    const started = Date.now();
    let lastReport = started;
    while (Date.now() - started < durationMs) {
      await sleep(sampleMs);
      for (const run of runs) {
        const s = status(run.child.pid ?? -1);
        if (s === undefined) throw new Error(`agent ${run.variant.name} exited (see its log)`);
        run.samples.push({ atS: (Date.now() - started) / 1000, reconnects: Math.max(0, run.cutter.accepted - 1), ...s });
      }
      if (Date.now() - lastReport >= 60_000) {
        lastReport = Date.now();
        progress(runs.map((r) => `${r.variant.name}: ${r.samples.at(-1)?.reconnects} reconnects, ${mb(r.samples.at(-1)?.rss)} MB`).join('; '));
      }
    }
    const results = runs.map((r) => ({ name: r.variant.name, command: [r.variant.command, ...r.variant.args].join(' '), env: r.variant.env, ...summarise(r.samples), samples: r.samples }));
    const out = opts.out ?? `${runDir}/result.json`;
    writeFileSync(out, JSON.stringify({ cutMs, capMs, sampleMs, durationMs, releaseFlags, results }, null, 1));
    const rows = [
      '| variant | reconnects | RSS range after 100 (every sample) | one per 24 reconnects | RssAnon range | RssFile range | RSS min–max | median | CPU ms / reconnect |',
      '|---|---|---|---|---|---|---|---|---|',
      ...results.map((r) =>
        [
          r.name,
          r.reconnects,
          `${mb(r.rssAfter100?.range)} MB (${r.samplesAfter100})`,
          `${mb(r.rssSoakLike?.range)} MB (${r.soakLikeSamples})`,
          mb(r.anonAfter100?.range),
          mb(r.fileAfter100?.range),
          `${mb(r.rssAfter100?.min)}–${mb(r.rssAfter100?.max)}`,
          mb(r.rssMedianAfter100),
          r.cpuPerReconnectMs?.toFixed(1) ?? '—',
        ].join(' | '),
      ).map((line) => `| ${line} |`),
    ];
    process.stdout.write(`${rows.join('\n')}\nJSON: ${out}\n`);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    for (const cutter of cutters) await cutter.close().catch(() => undefined);
    await master.kill();
    await client.db(database).dropDatabase().catch(() => undefined);
    await client.close();
    if (ownDb) await stopDevDb(dbState);
  }
}

await main();
