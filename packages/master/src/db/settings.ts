import { InvalidDatabaseSettingsError } from '../errors.js';

/**
 * Where the master's database is, from the environment, as the contract's
 * "Connection Configuration" says:
 *
 * | variable           | meaning                                                       |
 * |--------------------|---------------------------------------------------------------|
 * | `MONGODB_URI`      | full connection string; wins over `MONGODB_HOST`             |
 * | `MONGODB_HOST`     | `host[:port]` (or a comma-separated list); default `localhost:27017` |
 * | `MONGODB_USERNAME` | user name, added to the URI (percent-encoded)                 |
 * | `MONGODB_PASSWORD` | password, added to the URI (percent-encoded)                  |
 * | `MONGODB_DATABASE` | database name; default `cluster_db`                           |
 *
 * An empty variable counts as unset, as systemd's `Environment=X=` produces one.
 */
export interface MongoSettings {
  /** The connection string. It may hold the password: never log or print it. */
  uri: string;
  database: string;
  /** `host:port` list, for messages. */
  hosts: string;
  /** Loggable form: `mongodb://user:***@host/` or `mongodb://host/`. */
  description: string;
  /** Strings that must never be shown (the password, raw and percent-encoded). */
  secrets: string[];
}

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_MONGODB_HOST = 'localhost:27017';
export const DEFAULT_DATABASE = 'cluster_db';

interface ParsedUri {
  scheme: string;
  username?: string;
  password?: string;
  /** The password as written in the URI (its percent-encoding may differ from ours). */
  rawPassword?: string;
  hosts: string;
  /** Everything after the host list: `/db?options`. */
  rest: string;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Splits a connection string into its parts. Deliberately small: the driver
 * does the real parsing; this only finds the credentials (to hide them) and
 * the hosts (to name them). Error messages never quote the string itself.
 */
export function parseMongoUri(uri: string): ParsedUri {
  const match = /^(mongodb(?:\+srv)?):\/\/([^/?]*)(.*)$/s.exec(uri);
  if (match === null) {
    throw new InvalidDatabaseSettingsError('MONGODB_URI must start with mongodb:// or mongodb+srv://');
  }
  const [, scheme = 'mongodb', authority = '', rest = ''] = match;
  const at = authority.lastIndexOf('@');
  const hosts = at === -1 ? authority : authority.slice(at + 1);
  if (hosts === '') throw new InvalidDatabaseSettingsError('MONGODB_URI names no host');
  if (at === -1) return { scheme, hosts, rest };
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  return colon === -1
    ? { scheme, username: decode(userinfo), hosts, rest }
    : {
        scheme,
        username: decode(userinfo.slice(0, colon)),
        password: decode(userinfo.slice(colon + 1)),
        rawPassword: userinfo.slice(colon + 1),
        hosts,
        rest,
      };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** MongoDB's rules for database names, so a typo fails here with a clear message. */
function assertDatabaseName(name: string): void {
  if (Buffer.byteLength(name) > 63 || /[/\\. "$*<>:|?\0]/.test(name)) {
    throw new InvalidDatabaseSettingsError(
      'MONGODB_DATABASE must be at most 63 bytes without / \\ . space " $ * < > : | ? characters',
    );
  }
}

function describe(scheme: string, hosts: string, username: string | undefined, password: string | undefined): string {
  if (username === undefined) return `${scheme}://${hosts}/`;
  const user = encodeURIComponent(username);
  return password === undefined ? `${scheme}://${user}@${hosts}/` : `${scheme}://${user}:***@${hosts}/`;
}

export function mongoSettingsFromEnv(env: Env): MongoSettings {
  const database = nonEmpty(env.MONGODB_DATABASE) ?? DEFAULT_DATABASE;
  assertDatabaseName(database);
  const username = nonEmpty(env.MONGODB_USERNAME);
  const password = nonEmpty(env.MONGODB_PASSWORD);
  if (password !== undefined && username === undefined) {
    throw new InvalidDatabaseSettingsError('MONGODB_PASSWORD is set but MONGODB_USERNAME is not; set both');
  }
  const credentials =
    username === undefined
      ? ''
      : `${encodeURIComponent(username)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;

  const givenUri = nonEmpty(env.MONGODB_URI);
  let parsed: ParsedUri;
  let uri: string;
  if (givenUri !== undefined) {
    parsed = parseMongoUri(givenUri);
    if (username !== undefined && parsed.username !== undefined) {
      throw new InvalidDatabaseSettingsError(
        'credentials are set both in MONGODB_URI and in MONGODB_USERNAME/MONGODB_PASSWORD; keep one',
      );
    }
    uri = username === undefined ? givenUri : `${parsed.scheme}://${credentials}${parsed.hosts}${parsed.rest}`;
    if (username !== undefined) parsed = { ...parsed, username, password };
  } else {
    const host = nonEmpty(env.MONGODB_HOST) ?? DEFAULT_MONGODB_HOST;
    if (/[@/?#\s]/.test(host)) {
      throw new InvalidDatabaseSettingsError(
        'MONGODB_HOST must be host[:port] (or a comma-separated list); put anything else in MONGODB_URI',
      );
    }
    uri = `mongodb://${credentials}${host}/`;
    parsed = { scheme: 'mongodb', username, password, hosts: host, rest: '/' };
  }

  const secrets =
    parsed.password === undefined
      ? []
      : [parsed.password, encodeURIComponent(parsed.password), ...(parsed.rawPassword === undefined ? [] : [parsed.rawPassword])];
  return {
    uri,
    database,
    hosts: parsed.hosts,
    description: describe(parsed.scheme, parsed.hosts, parsed.username, parsed.password),
    secrets,
  };
}
