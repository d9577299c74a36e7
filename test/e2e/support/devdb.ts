import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runToEnd } from './processes.js';

/**
 * A dev database of the test file's own (scripts/devdb.sh), in a temporary
 * state directory, so that stopping it for the outage scenario disturbs no
 * other test. stop() and start() keep the data directory and the port, so a
 * client's URI stays valid across an outage.
 */
export class DevDb {
  private constructor(
    readonly stateDir: string,
    readonly dataDir: string,
    readonly uri: string,
    readonly port: number,
  ) {}

  static async start(): Promise<DevDb> {
    const stateDir = await mkdtemp(join(tmpdir(), 'cwr-e2e-db-'));
    const dataDir = join(stateDir, 'data');
    const result = await runToEnd('bash', ['scripts/devdb.sh', 'start', '--state-dir', stateDir, '--data', dataDir], process.env, 180_000);
    if (result.code !== 0) {
      await rm(stateDir, { recursive: true, force: true });
      throw new Error(`devdb start failed (${result.code}): ${result.stderr}`);
    }
    const uri = result.stdout.trim();
    const port = Number(/:(\d+)\/?$/.exec(uri)?.[1]);
    if (!Number.isInteger(port) || port <= 0) throw new Error(`devdb printed no URI: ${JSON.stringify(result.stdout)}`);
    return new DevDb(stateDir, dataDir, uri, port);
  }

  /** Stops the server (SIGTERM, then SIGKILL after 10 s); resolves once it is gone. */
  async stop(): Promise<void> {
    const result = await runToEnd('bash', ['scripts/devdb.sh', 'stop', '--state-dir', this.stateDir]);
    if (result.code !== 0) throw new Error(`devdb stop failed (${result.code}): ${result.stderr}`);
  }

  /** Starts it again on the same data and port; resolves once it answers a ping. */
  async restart(): Promise<void> {
    const result = await runToEnd(
      'bash',
      ['scripts/devdb.sh', 'start', '--state-dir', this.stateDir, '--data', this.dataDir, '--port', String(this.port)],
      process.env,
      60_000,
    );
    if (result.code !== 0) throw new Error(`devdb restart failed (${result.code}): ${result.stderr}`);
    if (result.stdout.trim() !== this.uri) throw new Error(`devdb came back at ${result.stdout.trim()}, not ${this.uri}`);
  }

  /** Stops it and removes the state and data. Safe to call twice. */
  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await rm(this.stateDir, { recursive: true, force: true });
    }
  }
}
