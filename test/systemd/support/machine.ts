import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../container.sh', import.meta.url));

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A throwaway machine with systemd as its PID 1 (test/systemd/container.sh):
 * its own PID, mount, UTS and cgroup namespaces on an overlay of / whose
 * writes land in a tmpfs. It shares the network namespace, so a dev database
 * on the loopback is reachable from inside. `dir` is mounted at /srv/host.
 */
export class Machine {
  private constructor(
    readonly pid: number,
    readonly dir: string,
  ) {}

  /** Fails (never skips) where the namespaces cannot be made. */
  static async boot(dir: string): Promise<Machine> {
    const { stdout } = await run('bash', [script, 'boot', dir], { timeout: 60_000 });
    const pid = Number(stdout.trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`container.sh boot printed '${stdout}'`);
    return new Machine(pid, dir);
  }

  /** The path inside the machine of a file in `dir`. */
  inside(path: string): string {
    if (!path.startsWith(this.dir)) throw new Error(`${path} is not under ${this.dir}`);
    return join('/srv/host', path.slice(this.dir.length));
  }

  /** Runs a shell command inside; never throws on a non-zero exit. */
  async sh(command: string, timeoutMs = 60_000): Promise<Output> {
    try {
      const { stdout, stderr } = await run('bash', [script, 'in', String(this.pid), 'sh', '-c', command], {
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number | string; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
    }
  }

  /** Like sh, but a non-zero exit is an error that shows what the command said. */
  async ok(command: string, timeoutMs?: number): Promise<string> {
    const out = await this.sh(command, timeoutMs);
    if (out.code !== 0) throw new Error(`'${command}' exited ${out.code}:\n${out.stdout}\n${out.stderr}`);
    return out.stdout;
  }

  /** `systemctl show UNIT -p NAME --value`. */
  async prop(unit: string, name: string): Promise<string> {
    return (await this.ok(`systemctl show ${unit} -p ${name} --value`)).trim();
  }

  /** Polls until check() is true, or fails with what it last saw. */
  async until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000, stepMs = 100): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < timeoutMs) {
      if (await check()) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, stepMs));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /** SIGKILL to its systemd ends the namespace and every process in it; then its cgroups go. */
  async kill(): Promise<void> {
    await run('bash', [script, 'kill', String(this.pid), this.dir], { timeout: 30_000 });
  }
}
