/**
 * The bare baseline: the least a server can do for the same traffic. An HTTP
 * server with a `ws` WebSocketServer in noServer mode and the master's ws
 * options, every frame parsed by the protocol's parseAgentMessage, hello
 * answered with welcome and heartbeat with ack. No admission, no database,
 * no liveness, no logging. Its CPU per heartbeat is the denominator of the
 * master's. Forked by the coordinator; reports over IPC.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { DEFAULTS, PROTOCOL_VERSION, encode, parseAgentMessage } from '../../../packages/protocol/dist/index.js';

const heartbeatIntervalMs = Number(process.env.BENCH_HEARTBEAT_INTERVAL_MS ?? DEFAULTS.heartbeatIntervalMs);
const heartbeatTimeoutMs = Number(process.env.BENCH_HEARTBEAT_TIMEOUT_MS ?? DEFAULTS.heartbeatTimeoutMs);

let heartbeats = 0;
let connected = 0;

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: DEFAULTS.maxMessageBytes,
  clientTracking: false,
});

const server = createServer((_req, res) => {
  res.writeHead(404);
  res.end();
});

server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    connected += 1;
    ws.on('close', () => (connected -= 1));
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      const parsed = parseAgentMessage(data, isBinary);
      if (!parsed.ok) {
        ws.close(parsed.code, parsed.reason);
        return;
      }
      const message = parsed.message;
      switch (message.type) {
        case 'hello':
          ws.send(
            encode({
              type: 'welcome',
              protocol_version: PROTOCOL_VERSION,
              heartbeat_interval_ms: heartbeatIntervalMs,
              heartbeat_timeout_ms: heartbeatTimeoutMs,
            }),
          );
          return;
        case 'heartbeat':
          heartbeats += 1;
          ws.send(encode({ type: 'ack', seq: message.seq }));
          return;
        case 'specs':
          return;
      }
    });
  });
});

process.on('message', (message: { reqId: number }) => {
  process.send?.({ reqId: message.reqId, heartbeats, connected });
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  process.send?.({ kind: 'listening', port: (server.address() as AddressInfo).port });
});
