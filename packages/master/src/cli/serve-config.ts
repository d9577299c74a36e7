import { accessSync, constants, readFileSync } from 'node:fs';
import { mongoSettingsFromEnv, type Env, type MongoSettings } from '../db/settings.js';
import { ConfigError } from '../errors.js';

export { ConfigError };
import { LOG_LEVELS, type LogLevel } from '../logger.js';
import { OPERATOR_OPTIONS, SERVER_DEFAULTS, type ServerOptions } from '../server/options.js';


/** The flags as yargs hands them over (strings unparsed, so that errors name the flag). */
export interface ServeFlags {
  host?: string | undefined;
  port?: string | number | undefined;
  heartbeatIntervalMs?: string | number | undefined;
  heartbeatTimeoutMs?: string | number | undefined;
  flushIntervalMs?: string | number | undefined;
  helloTimeoutMs?: string | number | undefined;
  viewRefreshMs?: string | number | undefined;
  eventTtlDays?: string | number | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  checkSourceAddress?: boolean | string | undefined;
  logLevel?: string | undefined;
}

/** What `serve` reads from flags and environment: the endpoint's options by name, plus what main turns into others. */
export interface ServeConfig
  extends Pick<
    ServerOptions,
    | 'host'
    | 'port'
    | 'heartbeatIntervalMs'
    | 'heartbeatTimeoutMs'
    | 'flushIntervalMs'
    | 'helloTimeoutMs'
    | 'viewRefreshMs'
    | 'eventTtlDays'
    | 'checkSourceAddress'
  > {
  /** Paths of the PEM certificate and key (both or neither). */
  tls: { certPath: string; keyPath: string } | undefined;
  logLevel: LogLevel;
  mongo: MongoSettings;
}

export interface ServeConfigDeps {
  /** Whether the file exists and this process may read it. */
  isReadable(path: string): boolean;
  /** Whether a unit credential holds something other than the unit's placeholder (absent: isReadable decides). */
  holdsCredential?(path: string): boolean;
}

/**
 * What the unit's `SetCredential=` fallback holds when the file of
 * `LoadCredential=` does not exist (systemd 252 refuses an empty one).
 */
export const CREDENTIAL_ABSENT = 'none';

const defaultDeps: ServeConfigDeps = {
  isReadable(path) {
    try {
      accessSync(path, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  },
  holdsCredential(path) {
    try {
      const text = readFileSync(path, 'utf8').trim();
      return text !== '' && text !== CREDENTIAL_ABSENT;
    } catch {
      return false;
    }
  },
};

/** Every number setting: its flag and its environment variable; default, bounds and help from OPERATOR_OPTIONS. */
const INTEGER_SETTINGS = {
  port: { flag: 'port', env: 'MASTER_PORT', ...OPERATOR_OPTIONS.port },
  heartbeatIntervalMs: { flag: 'heartbeat-interval-ms', env: 'MASTER_HEARTBEAT_INTERVAL_MS', ...OPERATOR_OPTIONS.heartbeatIntervalMs },
  heartbeatTimeoutMs: { flag: 'heartbeat-timeout-ms', env: 'MASTER_HEARTBEAT_TIMEOUT_MS', ...OPERATOR_OPTIONS.heartbeatTimeoutMs },
  flushIntervalMs: { flag: 'flush-interval-ms', env: 'MASTER_FLUSH_INTERVAL_MS', ...OPERATOR_OPTIONS.flushIntervalMs },
  helloTimeoutMs: { flag: 'hello-timeout-ms', env: 'MASTER_HELLO_TIMEOUT_MS', ...OPERATOR_OPTIONS.helloTimeoutMs },
  viewRefreshMs: { flag: 'view-refresh-ms', env: 'MASTER_VIEW_REFRESH_MS', ...OPERATOR_OPTIONS.viewRefreshMs },
  eventTtlDays: { flag: 'event-ttl-days', env: 'MASTER_EVENT_TTL_DAYS', ...OPERATOR_OPTIONS.eventTtlDays },
} as const;

export type IntegerSetting = keyof typeof INTEGER_SETTINGS;

/** The help line of a number setting's flag: what it does, its variable, its default. */
export function integerHelp(name: IntegerSetting): string {
  const setting = INTEGER_SETTINGS[name];
  return `${setting.help} [${setting.env}, default ${setting.default}]`;
}

function given(value: string | number | boolean | undefined): value is string | number | boolean {
  return value !== undefined && value !== '';
}

/** The TLS key's credential name in the unit (systemd/cluster-master.service: LoadCredential=tls-key:…). */
export const TLS_KEY_CREDENTIAL = 'tls-key';

/**
 * A secret file systemd hands the unit through LoadCredential=: the file
 * stays root-only, the service's dynamic user reads the copy in
 * $CREDENTIALS_DIRECTORY. Used only where nothing else names the file and it
 * is wanted (a key, when a certificate is set).
 */
function unitCredential(env: Env, deps: Pick<ServeConfigDeps, 'isReadable' | 'holdsCredential'>, name: string, wanted: boolean): { value: string; from: string } | undefined {
  const directory = env.CREDENTIALS_DIRECTORY;
  if (!wanted || directory === undefined || directory === '') return undefined;
  const path = `${directory}/${name}`;
  const holds = deps.holdsCredential?.(path) ?? deps.isReadable(path);
  return holds ? { value: path, from: `the unit's credential ${name} (LoadCredential=)` } : undefined;
}

function pick(flagValue: string | number | boolean | undefined, env: Env, envName: string): { value: string; from: string } | undefined {
  if (Array.isArray(flagValue)) throw new ConfigError(`give the flag of ${envName} once`);
  if (given(flagValue)) return { value: String(flagValue), from: 'flag' };
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, from: envName };
  return undefined;
}

function integer(name: IntegerSetting, flags: ServeFlags, env: Env): number {
  const spec = INTEGER_SETTINGS[name];
  const raw = pick(flags[name], env, spec.env);
  if (raw === undefined) return spec.default;
  const where = raw.from === 'flag' ? `--${spec.flag}` : spec.env;
  const text = raw.value.trim();
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(`${where} must be a whole number from ${spec.min} to ${spec.max}, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new ConfigError(`${where} must be from ${spec.min} to ${spec.max}, got ${value}`);
  }
  return value;
}

function boolean(flagValue: boolean | string | undefined, env: Env, envName: string, flag: string, fallback: boolean): boolean {
  const raw = pick(flagValue, env, envName);
  if (raw === undefined) return fallback;
  const text = raw.value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  const where = raw.from === 'flag' ? `--${flag}` : envName;
  throw new ConfigError(`${where} must be true or false, got ${JSON.stringify(text.slice(0, 40))}`);
}

/**
 * `cluster-master serve` settings from its flags and the environment (flag
 * wins over variable, variable over default). Pure apart from checking that
 * the TLS files are readable; throws ConfigError with one line that names the
 * flag or variable at fault.
 */
export function parseServeConfig(flags: ServeFlags, env: Env, deps: ServeConfigDeps = defaultDeps): ServeConfig {
  const hostRaw = pick(flags.host, env, 'MASTER_HOST');
  const host = hostRaw?.value.trim() ?? SERVER_DEFAULTS.host;
  if (host === '' || /[\s/@]/.test(host)) {
    throw new ConfigError(`${hostRaw?.from === 'flag' ? '--host' : 'MASTER_HOST'} must be an address or host name to listen on`);
  }
  const port = integer('port', flags, env);
  const heartbeatIntervalMs = integer('heartbeatIntervalMs', flags, env);
  const heartbeatTimeoutMs = integer('heartbeatTimeoutMs', flags, env);
  if (heartbeatTimeoutMs < 2 * heartbeatIntervalMs) {
    throw new ConfigError(
      `the heartbeat timeout (${heartbeatTimeoutMs} ms) must be at least two heartbeat intervals (${2 * heartbeatIntervalMs} ms): one late beat must not flag a worker`,
    );
  }
  const flushIntervalMs = integer('flushIntervalMs', flags, env);
  if (flushIntervalMs * 2 > heartbeatTimeoutMs) {
    throw new ConfigError(
      `--flush-interval-ms (${flushIntervalMs}) must be at most half the heartbeat timeout (${heartbeatTimeoutMs} ms)`,
    );
  }
  const helloTimeoutMs = integer('helloTimeoutMs', flags, env);
  const viewRefreshMs = integer('viewRefreshMs', flags, env);
  const eventTtlDays = integer('eventTtlDays', flags, env);
  const checkSourceAddress = boolean(
    flags.checkSourceAddress,
    env,
    'MASTER_CHECK_SOURCE_ADDRESS',
    'check-source-address',
    SERVER_DEFAULTS.checkSourceAddress,
  );

  const cert = pick(flags.tlsCert, env, 'MASTER_TLS_CERT');
  const key = pick(flags.tlsKey, env, 'MASTER_TLS_KEY') ?? unitCredential(env, deps, TLS_KEY_CREDENTIAL, cert !== undefined);
  let tls: ServeConfig['tls'];
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('give both --tls-cert and --tls-key (MASTER_TLS_CERT, MASTER_TLS_KEY), or neither');
  }
  if (cert !== undefined && key !== undefined) {
    for (const [what, file] of [
      ['--tls-cert', cert],
      ['--tls-key', key],
    ] as const) {
      if (!deps.isReadable(file.value)) {
        const where = file.from === 'flag' ? what : file.from;
        throw new ConfigError(`${where}: cannot read ${JSON.stringify(file.value.slice(0, 200))}`);
      }
    }
    tls = { certPath: cert.value, keyPath: key.value };
  }

  const levelRaw = pick(flags.logLevel, env, 'LOG_LEVEL');
  const level = (levelRaw?.value.trim().toLowerCase() ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    throw new ConfigError(
      `${levelRaw?.from === 'flag' ? '--log-level' : 'LOG_LEVEL'} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(String(levelRaw?.value).slice(0, 40))}`,
    );
  }

  return {
    host,
    port,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    flushIntervalMs,
    helloTimeoutMs,
    viewRefreshMs,
    eventTtlDays,
    checkSourceAddress,
    tls,
    logLevel: level,
    mongo: mongoSettingsFromEnv(env),
  };
}
