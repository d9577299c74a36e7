import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';

/**
 * The listen backlog of the master's socket. A restarted master meets its whole fleet within seconds:
 * past Node's default backlog (511) the kernel drops connection attempts and an agent waits 1 s, 3 s, …
 * for its retry (its welcome timeout runs meanwhile). The kernel caps it at net.core.somaxconn.
 */
export const LISTEN_BACKLOG = 4_096;

/**
 * The master's listening socket, bound before the rest of the master is
 * loaded. A restarted master spends a second or more (several on a loaded
 * machine) importing its modules before it could listen; its whole fleet
 * reconnects meanwhile, and each `connection refused` grows an agent's
 * backoff (1 s, 2 s, 4 s, 8 s windows), so the last agents come back many
 * seconds after the master could take them. Bound first, the port accepts at
 * once: connections wait here, unread, until the master takes them over
 * (`handTo`), and are then answered as any other (a 503 with Retry-After
 * while the admission view loads, or admitted). Only `node:net` is imported
 * here, so that binding costs nothing.
 */
export class EarlyListener {
  readonly #server: NetServer;
  /** What bind() was asked (port 0: any free one). */
  readonly #asked: { host: string; port: number };
  #queued: Socket[] = [];
  #target: NetServer | undefined;

  private constructor(server: NetServer, asked: { host: string; port: number }) {
    this.#server = server;
    this.#asked = asked;
    server.on('connection', (socket) => {
      if (this.#target === undefined) {
        // A peer that gives up while queued is simply gone; nothing is owed to it.
        socket.on('error', () => undefined);
        this.#queued.push(socket);
        return;
      }
      this.#pass(socket, this.#target);
    });
  }

  /** Binds host:port; rejects as server.listen would (EADDRINUSE, EACCES). */
  static bind(address: { host: string; port: number }, backlog: number = LISTEN_BACKLOG): Promise<EarlyListener> {
    return new Promise((resolve, reject) => {
      // pauseOnConnect: nothing is read until the master's server takes the socket.
      const server = createServer({ pauseOnConnect: true });
      server.once('error', reject);
      server.listen({ host: address.host, port: address.port, backlog }, () => {
        server.off('error', reject);
        resolve(new EarlyListener(server, { host: address.host, port: address.port }));
      });
    });
  }

  /** The bound address, while listening. */
  address(): AddressInfo | undefined {
    const a = this.#server.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  /** Whether this listener serves `host:port` as asked (port 0: any port). */
  serves(address: { host: string; port: number }): boolean {
    const bound = this.address();
    return bound !== undefined && this.#asked.host === address.host && (address.port === 0 ? this.#asked.port === 0 : bound.port === address.port);
  }

  /**
   * From now on every connection, the queued ones first, goes to `server`
   * (an http or https server that is not listening itself): it reads them as
   * its own, as if it had accepted them.
   */
  handTo(server: NetServer): void {
    this.#target = server;
    const queued = this.#queued;
    this.#queued = [];
    for (const socket of queued) {
      if (socket.destroyed) continue;
      this.#pass(socket, server);
    }
  }

  #pass(socket: Socket, server: NetServer): void {
    socket.removeAllListeners('error');
    server.emit('connection', socket);
    socket.resume();
  }

  /** Stops accepting; connections already handed over stay with their server, queued ones are dropped. */
  close(): Promise<void> {
    for (const socket of this.#queued) socket.destroy();
    this.#queued = [];
    return new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
    });
  }

  /** Connections waiting for the master (tests, logs). */
  get queued(): number {
    return this.#queued.length;
  }
}
