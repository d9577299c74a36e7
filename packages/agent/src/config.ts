import { DEFAULTS, isValidWorkerId, type Specs } from '@cluster/protocol/agent-side';
import { ConfigError, type ErrorCode } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import { TokenError, checkToken, readTokenFile } from './token.js';
import { CREDENTIAL_FILE_NAME } from './enrollment/credential-file.js';
import { quickRunArgs } from './run-args.js';

/** Everything `cluster-agent run` needs, validated. */
export interface RunConfig {
  /** Normalised `ws://` or `wss://` URLs with the agent path: one per master, in the order given. */
  masterUrls: string[];
  workerId: string;
  /** The credential as read at start (checked before any connection). */
  token: string;
  /** The token file, read again before every attempt; undefined for an inline token. */
  tokenFile: string | undefined;
  /** The setting the token came from (AGENT_TOKEN, --token-file …), for advice. */
  tokenFrom: string;
  /**
   * Set when the agent has no credential yet and enrolls first with this
   * enrollment token; `token` is then empty and `tokenFile` the credential file.
   */
  enrollment: { token: string; from: string } | undefined;
  /** Where an enrolled agent keeps its credential: `credential` in the state directory. */
  credentialFile: string;
  ca: Buffer | undefined;
  logLevel: LogLevel;
  reconnectBaseMs: number;
  reconnectCapMs: number;
  refusedRetryMs: number;
  stableConnectionMs: number;
  reprobeIntervalMs: number;
  welcomeTimeoutMs: number;
  /** Reported instead of measured specs (AGENT_FAKE_SPECS); for benchmarks and tests. */
  fakeSpecs: Specs | undefined;
}

export type Invocation =
  | { command: 'run'; config: RunConfig }
  | { command: 'probe'; json: boolean }
  /** Print JSON log lines (these files, or stdin) readable. */
  | { command: 'pretty'; files: string[] }
  /** --help or --version: print `output`, exit 0. */
  | { command: 'print'; output: string }
  /** Bad configuration: print `message` (one line) with its `code`, exit 2. */
  | { command: 'invalid'; code: ErrorCode; message: string };

export interface ConfigDeps {
  hostname: () => string;
  readFile: (path: string) => Promise<Buffer>;
  version: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

interface Setting {
  flag: string;
  env: string;
  describe: string;
}

/** The state directory when neither AGENT_STATE_DIRECTORY nor systemd's $STATE_DIRECTORY names one. */
export const DEFAULT_STATE_DIRECTORY = '/var/lib/cluster-agent';

/** Flags and the environment variables behind them; a flag beats its variable. */
const SETTINGS = {
  masterUrl: { flag: 'master-url', env: 'AGENT_MASTER_URL', describe: 'ws:// or wss:// URL of the master (path defaults to /agent); several masters: a comma-separated list, or repeat the flag' },
  workerId: { flag: 'worker-id', env: 'AGENT_WORKER_ID', describe: 'this worker\'s id (default: the host name)' },
  token: { flag: 'token', env: 'AGENT_TOKEN', describe: 'the worker\'s credential (prefer --token-file: flags show in ps)' },
  tokenFile: { flag: 'token-file', env: 'AGENT_TOKEN_FILE', describe: 'file holding the credential (surrounding whitespace ignored)' },
  enrollToken: { flag: 'enroll-token', env: 'AGENT_ENROLL_TOKEN', describe: 'an enrollment token (cluster-master enroll create): with no credential of its own yet, the agent fetches one with it and stores it in the state directory' },
  enrollTokenFile: { flag: 'enroll-token-file', env: 'AGENT_ENROLL_TOKEN_FILE', describe: 'file holding the enrollment token' },
  stateDirectory: { flag: 'state-directory', env: 'AGENT_STATE_DIRECTORY', describe: `where an enrolled agent keeps its credential (default: $STATE_DIRECTORY, which the unit's StateDirectory= sets, else ${DEFAULT_STATE_DIRECTORY})` },
  caFile: { flag: 'ca-file', env: 'AGENT_CA_FILE', describe: 'PEM file of CA certificates to trust for wss://' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', describe: `log level: ${LOG_LEVELS.slice(0, -1).join(', ')} or ${LOG_LEVELS.at(-1)} (default info)` },
  reconnectBaseMs: { flag: 'reconnect-base-ms', env: 'AGENT_RECONNECT_BASE_MS', describe: `first reconnect waits up to this, ms (default ${DEFAULTS.reconnectBaseMs})` },
  reconnectCapMs: { flag: 'reconnect-cap-ms', env: 'AGENT_RECONNECT_CAP_MS', describe: `longest normal reconnect wait, ms (default ${DEFAULTS.reconnectCapMs})` },
  refusedRetryMs: { flag: 'refused-retry-ms', env: 'AGENT_REFUSED_RETRY_MS', describe: `retry after a refusal only an admin can fix, ms ±20 % (default ${DEFAULTS.refusedRetryMs})` },
  stableConnectionMs: { flag: 'stable-connection-ms', env: 'AGENT_STABLE_CONNECTION_MS', describe: `a session this old resets the backoff, ms (default ${DEFAULTS.stableConnectionMs})` },
  reprobeIntervalMs: { flag: 'reprobe-interval-ms', env: 'AGENT_REPROBE_INTERVAL_MS', describe: `measure the machine again this often, ms (default ${DEFAULTS.reprobeIntervalMs})` },
  welcomeTimeoutMs: { flag: 'welcome-timeout-ms', env: 'AGENT_WELCOME_TIMEOUT_MS', describe: `connect + upgrade + welcome must take less, ms (default ${DEFAULTS.helloTimeoutMs})` },
  fakeSpecs: { flag: 'fake-specs', env: 'AGENT_FAKE_SPECS', describe: 'JSON specs to report INSTEAD of measuring (benchmarks, tests)' },
} as const satisfies Record<string, Setting>;

type SettingName = keyof typeof SETTINGS;

/**
 * Turns argv and the environment into what to do. Never touches the process:
 * main.ts prints and exits. Everything is checked here, before any
 * connection, so a bad setting is one line on stderr and exit code 2.
 */
export async function parseInvocation(argv: readonly string[], env: Env, deps: ConfigDeps): Promise<Invocation> {
  const quick = quickRunArgs(argv, RUN_FLAGS);
  const read = quick === undefined ? await parseWithYargs(argv, deps.version) : { args: quick };
  if ('invocation' in read) return read.invocation;
  const parsed = read.args;
  const command = String((parsed._ as unknown[])[0]);
  if (command === 'probe') return { command: 'probe', json: parsed.json === true };
  if (command === 'pretty') return { command: 'pretty', files: ((parsed.file as unknown[] | undefined) ?? []).map(String) };

  try {
    return { command: 'run', config: await runConfig(parsed, env, deps) };
  } catch (err) {
    if (err instanceof ConfigError) return { command: 'invalid', code: err.code, message: err.message };
    throw err;
  }
}

/** The flags of `run`. */
export const RUN_FLAGS: ReadonlySet<string> = new Set(Object.values(SETTINGS).map((s) => s.flag));

/**
 * The whole command line through yargs: help, version, completion, usage
 * errors, `probe` and `pretty`, and any `run` line quickRunArgs leaves to it.
 * Loaded only then: it costs the resident daemon about 7 MB.
 */
export async function parseWithYargs(argv: readonly string[], version: string): Promise<{ args: Record<string, unknown> } | { invocation: Invocation }> {
  const { default: yargs } = await import('yargs');
  // One voice with cluster-master's help: capitalised descriptions, -h for --help, lines not
  // wrapped to the terminal (test/cli/cli-voice.test.ts holds both to it).
  const runFlags = Object.fromEntries(
    Object.values(SETTINGS).map((s) => [s.flag, { type: 'string' as const, describe: `${capitalised(s.describe)} [${s.env}]`, requiresArg: true }]),
  );
  const parser = yargs()
    .scriptName('cluster-agent')
    .usage('$0 <command> [options]\n\nThe cluster agent: reports this machine to the cluster master and keeps its worker alive in the registry.')
    .command('run', 'Measure this machine and keep a session with the master', (y) => y.options(runFlags))
    .command('probe', 'Print what this machine has and exit', (y) =>
      y.option('json', { type: 'boolean', default: false, describe: 'Print JSON for scripts' }),
    )
    .command('pretty [file..]', 'Print JSON log lines readable (from the files, or stdin: journalctl -u cluster-agent -o cat | cluster-agent pretty)', (y) =>
      y.positional('file', { type: 'string', array: true, describe: 'Log files of JSON lines (- or none: stdin)' }),
    )
    .demandCommand(1, 'choose a command: run, probe or pretty')
    // `completion` prints a bash script; the .deb installs it (/usr/share/bash-completion/completions).
    .completion('completion', 'Print the bash completion script (source it, or put it in bash-completion\'s directory)')
    .epilogue('Options of each command: cluster-agent run --help, cluster-agent probe --help. Units and reactions: /usr/share/doc/cluster-agent/README.md as installed, packages/agent/README.md in the sources.')
    .strict()
    .help()
    .alias('help', 'h')
    .version(version)
    .wrap(null);

  // The completion script's callback for the words at the cursor. yargs answers it asynchronously,
  // after parse() has called back with no output, so it is asked directly.
  const completing = argv.indexOf('--get-yargs-completions');
  if (completing !== -1) {
    const words = await parser.getCompletion(argv.slice(completing + 1));
    return { invocation: { command: 'print', output: words.join('\n') } };
  }

  const parsed = await new Promise<{ err?: Error; args: Record<string, unknown>; output: string }>((resolve) => {
    void parser.parse([...argv], {}, (err, args, output) => {
      resolve({ ...(err ? { err } : {}), args: args, output });
    });
  });
  if (parsed.err) return { invocation: { command: 'invalid', code: 'USAGE', message: firstLine(parsed.err.message) } };
  if (parsed.output !== '') return { invocation: { command: 'print', output: parsed.output } };
  return { args: parsed.args };
}

function capitalised(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

async function runConfig(args: Record<string, unknown>, env: Env, deps: ConfigDeps): Promise<RunConfig> {
  /** The flag if given, else the environment variable; empty counts as unset. */
  const get = (name: SettingName): { value: string; from: string } | undefined => {
    const s: Setting = SETTINGS[name];
    const flag = args[s.flag];
    if (typeof flag === 'string' && flag !== '') return { value: flag, from: `--${s.flag}` };
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, from: s.env };
    return undefined;
  };

  const masterUrls = masterUrlList(args[SETTINGS.masterUrl.flag], env[SETTINGS.masterUrl.env]);

  const workerIdSetting = get('workerId');
  const workerId: string = workerIdSetting?.value ?? deps.hostname();
  if (!isValidWorkerId(workerId)) {
    const from = workerIdSetting?.from ?? 'the host name';
    const shown: string = workerId;
    throw new ConfigError(
      `worker id ${JSON.stringify(shown.slice(0, 80))} (from ${from}) is not valid: use letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit; set AGENT_WORKER_ID`,
      'INVALID_WORKER_ID',
    );
  }

  const stateDirectory = get('stateDirectory')?.value ?? firstPath(env.STATE_DIRECTORY) ?? DEFAULT_STATE_DIRECTORY;
  const credentialFile = `${stateDirectory.replace(/\/+$/, '')}/${CREDENTIAL_FILE_NAME}`;
  const { token, tokenFile, tokenFrom, enrollment } = await chooseCredential(get('token'), get('tokenFile'), get('enrollToken'), get('enrollTokenFile'), deps, env.CREDENTIALS_DIRECTORY, credentialFile);

  const caSetting = get('caFile');
  let ca: Buffer | undefined;
  if (caSetting) {
    if (!masterUrls.some((u) => u.startsWith('wss:'))) throw new ConfigError(`${caSetting.from} is set but no master URL is wss://; a CA file only applies to TLS`);
    ca = await readOrFail(deps, caSetting.value, `CA file ${caSetting.value} (${caSetting.from})`);
    if (!ca.toString('utf8').includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`CA file ${caSetting.value} (${caSetting.from}) holds no PEM certificate`);
    }
  }

  const level = get('logLevel');
  const logLevel = (level?.value ?? 'info').toLowerCase();
  if (!isLogLevel(logLevel)) throw new ConfigError(`${level?.from ?? 'LOG_LEVEL'} must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(logLevel)}`);

  const ms = (name: SettingName, fallback: number): number => {
    const s = get(name);
    if (!s) return fallback;
    const n = Number(s.value);
    if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${s.from} must be a positive whole number of milliseconds, not ${JSON.stringify(s.value)}`);
    return n;
  };
  const reconnectBaseMs = ms('reconnectBaseMs', DEFAULTS.reconnectBaseMs);
  const reconnectCapMs = ms('reconnectCapMs', DEFAULTS.reconnectCapMs);
  if (reconnectCapMs < reconnectBaseMs) throw new ConfigError(`the reconnect cap (${reconnectCapMs} ms) is below the reconnect base (${reconnectBaseMs} ms)`);

  return {
    masterUrls,
    workerId,
    token,
    tokenFile,
    tokenFrom,
    enrollment,
    credentialFile,
    ca,
    logLevel,
    reconnectBaseMs,
    reconnectCapMs,
    refusedRetryMs: ms('refusedRetryMs', DEFAULTS.refusedRetryMs),
    stableConnectionMs: ms('stableConnectionMs', DEFAULTS.stableConnectionMs),
    reprobeIntervalMs: ms('reprobeIntervalMs', DEFAULTS.reprobeIntervalMs),
    welcomeTimeoutMs: ms('welcomeTimeoutMs', DEFAULTS.helloTimeoutMs),
    fakeSpecs: await parseFakeSpecs(get('fakeSpecs')),
  };
}

/**
 * The masters' URLs: every --master-url (the flag may repeat) or else
 * AGENT_MASTER_URL, each a comma-separated list. Empty entries (a trailing
 * comma) are ignored and a URL given twice counts once.
 */
export function masterUrlList(flag: unknown, env: string | undefined): string[] {
  const flags = (Array.isArray(flag) ? flag : [flag]).filter((f): f is string => typeof f === 'string' && f !== '');
  const from = flags.length > 0 ? '--master-url' : 'AGENT_MASTER_URL';
  const texts = flags.length > 0 ? flags : env === undefined ? [] : [env];
  const entries = texts.flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  if (entries.length === 0) throw new ConfigError('no master URL: set AGENT_MASTER_URL or --master-url (e.g. ws://master.example:8080, or several separated by commas)');
  return [...new Set(entries.map((e) => normalizeMasterUrl(e, from)))];
}

/** `ws://host:port` gets the protocol's agent path; a URL that names a path keeps it. */
export function normalizeMasterUrl(text: string, from = 'the master URL'): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${from} ${JSON.stringify(text.slice(0, 200))} is not a URL; expected ws://host:port or wss://host:port`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ConfigError(`${from} must start with ws:// or wss://, not ${url.protocol}//`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(`${from} must not carry credentials; give the token with AGENT_TOKEN_FILE or AGENT_TOKEN`);
  }
  if (url.hash !== '') throw new ConfigError(`${from} must not have a #fragment`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = DEFAULTS.agentPath;
  return url.href;
}

/** systemd's $STATE_DIRECTORY lists the unit's state directories, colon-separated: the first. */
function firstPath(value: string | undefined): string | undefined {
  const first = value?.split(':')[0];
  return first === undefined || first === '' ? undefined : first;
}

type ChosenCredential = { token: string; tokenFile: string | undefined; tokenFrom: string; enrollment: { token: string; from: string } | undefined };

/**
 * The credential, in this order: one given (AGENT_TOKEN, AGENT_TOKEN_FILE, the
 * unit's), else the one an earlier enrollment stored in the state directory,
 * else an enrollment with AGENT_ENROLL_TOKEN(_FILE). So one agent.env, with only
 * the enrollment token, serves every machine of a batch before and after enrolling.
 */
async function chooseCredential(
  inline: { value: string; from: string } | undefined,
  file: { value: string; from: string } | undefined,
  enrollInline: { value: string; from: string } | undefined,
  enrollFile: { value: string; from: string } | undefined,
  deps: ConfigDeps,
  credentialsDirectory: string | undefined,
  credentialFile: string,
): Promise<ChosenCredential> {
  if (enrollInline !== undefined && enrollFile !== undefined) throw new ConfigError(`set either ${enrollInline.from} or ${enrollFile.from}, not both`);
  const enrollSetting = enrollInline ?? enrollFile;
  if (inline !== undefined || file !== undefined || enrollSetting === undefined) {
    return { ...(await readToken(inline, file, deps, credentialsDirectory, credentialFile, enrollSetting !== undefined)), enrollment: undefined };
  }
  const unit = credentialsDirectory !== undefined && credentialsDirectory !== '' ? await unitCredential(deps, credentialsDirectory) : undefined;
  if (unit !== undefined) return { ...unit, enrollment: undefined };
  const stored = await storedCredential(deps, credentialFile);
  if (stored !== undefined) return { ...stored, enrollment: undefined };
  try {
    const token =
      enrollSetting === enrollFile
        ? await readTokenFile(deps.readFile, enrollSetting.value, enrollSetting.from)
        : checkToken(enrollSetting.value, enrollSetting.from);
    return { token: '', tokenFile: credentialFile, tokenFrom: `the stored credential ${credentialFile}`, enrollment: { token, from: enrollSetting === enrollFile ? `the enrollment token file ${enrollSetting.value}` : enrollSetting.from } };
  } catch (err) {
    if (err instanceof TokenError) throw new ConfigError(err.message.replace('token file', 'enrollment token file'));
    throw err;
  }
}

/** The credential an earlier enrollment stored; undefined when there is none yet (a damaged one is an error). */
async function storedCredential(deps: ConfigDeps, path: string): Promise<{ token: string; tokenFile: string; tokenFrom: string } | undefined> {
  let content: Buffer;
  try {
    content = await deps.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the stored credential ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return { token: checkToken(content.toString('utf8'), `the stored credential ${path}`), tokenFile: path, tokenFrom: `the stored credential ${path}` };
  } catch (err) {
    if (err instanceof TokenError) throw new ConfigError(`${err.message}; remove it and ask for a new token (cluster-master worker token ID), or put one there`);
    throw err;
  }
}

async function readToken(
  inline: { value: string; from: string } | undefined,
  file: { value: string; from: string } | undefined,
  deps: ConfigDeps,
  credentialsDirectory: string | undefined,
  credentialFile?: string,
  enrolling = false,
): Promise<{ token: string; tokenFile: string | undefined; tokenFrom: string }> {
  // A flag beats the environment; two sources at the same level are a mistake.
  const flagLevel = [inline, file].filter((s) => s?.from.startsWith('--'));
  if (flagLevel.length === 2) throw new ConfigError('give either --token or --token-file, not both');
  if (flagLevel.length === 0 && inline && file) throw new ConfigError('set either AGENT_TOKEN or AGENT_TOKEN_FILE, not both');
  const chosen = flagLevel[0] ?? inline ?? file;
  if (!chosen && credentialsDirectory !== undefined && credentialsDirectory !== '') {
    const credential = await unitCredential(deps, credentialsDirectory);
    if (credential !== undefined) return credential;
  }
  if (!chosen && !enrolling && credentialFile !== undefined) {
    // An agent that enrolled once keeps working when the enrollment token is taken out of agent.env.
    const stored = await storedCredential(deps, credentialFile);
    if (stored !== undefined) return stored;
  }
  if (!chosen) throw new ConfigError('no credential: set AGENT_TOKEN_FILE (or AGENT_TOKEN, --token-file, --token) to the token issued by `cluster-master worker register`, or AGENT_ENROLL_TOKEN to an enrollment token (`cluster-master enroll create`)');
  try {
    // Read at start too, so a bad file is one line and exit 2 before any connection.
    if (chosen === file) return { token: await readTokenFile(deps.readFile, chosen.value, chosen.from), tokenFile: chosen.value, tokenFrom: chosen.from };
    return { token: checkToken(chosen.value, chosen.from), tokenFile: undefined, tokenFrom: chosen.from };
  } catch (err) {
    if (err instanceof TokenError) throw new ConfigError(err.message);
    throw err;
  }
}

/**
 * The token systemd hands the unit (`LoadCredential=token:/etc/cluster-agent/token`):
 * the file stays root-only, the service's dynamic user reads the copy in
 * $CREDENTIALS_DIRECTORY. Absent, empty, or the unit's `SetCredential=token:none`
 * fallback (the file does not exist): undefined, the other settings decide.
 * Copied once at the service's start, so a new token needs a restart.
 */
async function unitCredential(deps: ConfigDeps, directory: string): Promise<{ token: string; tokenFile: undefined; tokenFrom: string } | undefined> {
  let content: string;
  try {
    content = (await deps.readFile(`${directory}/${CREDENTIAL_NAME}`)).toString('utf8');
  } catch {
    return undefined;
  }
  if (content.trim() === '' || content.trim() === CREDENTIAL_ABSENT) return undefined;
  const tokenFrom = `the unit's credential "${CREDENTIAL_NAME}" (LoadCredential=, from /etc/cluster-agent/token)`;
  try {
    return { token: checkToken(content, tokenFrom), tokenFile: undefined, tokenFrom };
  } catch (err) {
    if (err instanceof TokenError) throw new ConfigError(err.message);
    throw err;
  }
}

/** The credential's name in the unit (systemd/cluster-agent.service). */
export const CREDENTIAL_NAME = 'token';
/** What the unit's SetCredential= fallback holds while /etc/cluster-agent/token does not exist (systemd 252 refuses an empty one). */
export const CREDENTIAL_ABSENT = 'none';

async function readOrFail(deps: ConfigDeps, path: string, what: string): Promise<Buffer> {
  try {
    return await deps.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`cannot read ${what}: ${code}`);
  }
}

async function parseFakeSpecs(setting: { value: string; from: string } | undefined): Promise<Specs | undefined> {
  if (!setting) return undefined;
  // The schema (and zod, ~6 MB resident) only for this test and benchmark setting.
  const { SpecsSchema } = await import('@cluster/protocol');
  let json: unknown;
  try {
    json = JSON.parse(setting.value);
  } catch {
    throw new ConfigError(`${setting.from} is not JSON; expected {"total_cpu":8,"total_memory":31.25,"total_storage":512,"total_gpu":0}`);
  }
  const r = SpecsSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError(`${setting.from} is not valid specs: ${issue ? `${issue.path.join('.') || 'value'} ${issue.message}` : 'invalid'}`);
  }
  return r.data;
}

function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? text;
}
