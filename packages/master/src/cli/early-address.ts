/**
 * Where `cluster-master serve` will listen, read from the command line and
 * the environment before the CLI is loaded (main.ts binds it first thing:
 * server/early-listener.ts). Only the plain forms are read (`--port N`,
 * `--port=N`, MASTER_PORT, and the same for the host; the flag wins, as in
 * serve-config.ts); anything else, or any doubt, gives undefined and the
 * master binds as before once loaded. A wrong guess costs nothing either: the
 * master takes the early socket only when it is bound to the address its own
 * configuration says (EarlyListener.serves), else closes it and listens itself.
 * Imports nothing, so that the guess costs nothing.
 */
export function earlyListenAddress(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { host: string; port: number } | undefined {
  if (argv[0] !== 'serve') return undefined;
  let hostFlag: string | undefined;
  let portFlag: string | undefined;
  for (let i = 1; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h' || arg === '--version' || arg === 'help') return undefined;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name !== '--host' && name !== '--port') continue;
    const value = inline ?? argv[i + 1];
    if (inline === undefined) i += 1;
    if (value === undefined) return undefined;
    // Given twice: yargs makes it a list, serve-config refuses it; no guess.
    if ((name === '--host' ? hostFlag : portFlag) !== undefined) return undefined;
    if (name === '--host') hostFlag = value;
    else portFlag = value;
  }
  const host = (hostFlag ?? env.MASTER_HOST ?? EARLY_DEFAULTS.host).trim();
  const portText = (portFlag ?? env.MASTER_PORT ?? String(EARLY_DEFAULTS.port)).trim();
  if (host === '' || /[\s/@]/.test(host) || !/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port <= 65_535 ? { host, port } : undefined;
}

/** serve's defaults (SERVER_DEFAULTS in server/options.ts, which a test compares): copied, not imported, to import nothing. */
export const EARLY_DEFAULTS = { host: '0.0.0.0', port: 8080 } as const;
