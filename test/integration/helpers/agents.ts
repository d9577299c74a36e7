import type { Specs } from '@cluster/protocol';
import { createAgent, type Agent } from '../../../packages/agent/src/agent.js';
import { createLogger } from '../../../packages/agent/src/logger.js';
import { createFakeProbe } from '../../../packages/agent/src/probe/fake.js';
import { SPECS } from './raw-agent.js';

/**
 * The real agent session (packages/agent), with a fake probe and fast
 * reconnects, pointed at a test master.
 */
export function realAgent(url: string, workerId: string, token: string, specs: Specs = SPECS): Agent {
  return createAgent({
    masterUrl: `${url}/agent`,
    workerId,
    token,
    agentVersion: 'integration-test',
    probe: createFakeProbe(specs),
    logger: createLogger({ level: 'silent' }),
    reconnectBaseMs: 50,
    reconnectCapMs: 200,
    refusedRetryMs: 500,
    stableConnectionMs: 1_000,
    welcomeTimeoutMs: 2_000,
  });
}
