export { createAgent, type Agent, type AgentOptions } from './agent.js';
export { createSession, type Session, type SessionOptions, type SessionState, type Connect } from './session/session.js';
export { reconnectDelayMs, planRetry, masterSilenceLimitMs, type BackoffOptions, type RetryOptions, type RetryPlan } from './session/backoff.js';
export { createProbe, type Probe, type ProbeReport, type ProbeOptions } from './probe/index.js';
export { createFakeProbe } from './probe/fake.js';
export { parseInvocation, normalizeMasterUrl, type RunConfig, type Invocation } from './config.js';
export { createLogger, type LogLevel } from './logger.js';
export { runCli, type CliDeps } from './cli.js';
