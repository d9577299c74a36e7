import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of the master for the soak's real agent: each
 * connection is destroyed `cutAfterMs` after it was accepted, as a network
 * blip would (no close frame: the agent sees its socket end and reconnects
 * with its backoff; the master sees an abnormal close and keeps the worker
 * active until its timeout, by which time the agent is back).
 */
export class TcpCutter {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Connections accepted so far (each one a connection attempt of the agent). */
  accepted = 0;
  cuts = 0;
  #cutting = true;

  constructor(
    private readonly targetPort: number,
    private readonly cutAfterMs: number,
  ) {
    this.#server = createServer((client) => {
      this.accepted += 1;
      const upstream = connect(this.targetPort, '127.0.0.1');
      const timer = setTimeout(() => {
        if (!this.#cutting) return;
        this.cuts += 1;
        client.destroy();
        upstream.destroy();
      }, this.cutAfterMs);
      client.on('close', () => clearTimeout(timer));
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        this.#sockets.add(a);
        a.on('close', () => {
          this.#sockets.delete(a);
          b.destroy();
        });
        a.on('error', () => b.destroy());
        a.pipe(b);
      }
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('tcp cutter: no port');
    return address.port;
  }

  /** Connections from now on are left alone. */
  stopCutting(): void {
    this.#cutting = false;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
