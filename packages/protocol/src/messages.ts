import { z } from 'zod';
import { CADENCE_LIMITS, SPEC_LIMITS } from './defaults.js';
import { PROTOCOL_VERSION } from './version.js';
import { WORKER_ID_PATTERN } from './worker-id.js';

/**
 * Every message is defined once here and parsed once at each edge (see
 * parse.ts). Objects are strict: an unknown field is a bad message, because a
 * peer that sends one speaks a protocol version we do not.
 */

/** What the agent measured, in the units of WORKER_REGISTRY. */
export const SpecsSchema = z.strictObject({
  /** Logical CPU cores. */
  total_cpu: z.number().min(0).max(SPEC_LIMITS.maxCpu),
  /** GiB (2^30 bytes) of MemTotal. */
  total_memory: z.number().min(0).max(SPEC_LIMITS.maxMemory),
  /** GB (10^9 bytes) of physical disks. */
  total_storage: z.number().min(0).max(SPEC_LIMITS.maxStorage),
  /** Compute GPUs. */
  total_gpu: z.number().int().min(0).max(SPEC_LIMITS.maxGpu),
});
export type Specs = z.infer<typeof SpecsSchema>;

const workerId = z.string().regex(WORKER_ID_PATTERN);
/**
 * A heartbeat's number, echoed in its ack. Neither daemon acts on it (to the
 * agent any ack is proof of life); it pairs an ack with its heartbeat for a
 * reader of a trace or a test client. It stays required on both messages: the
 * schemas are strict, so dropping it would break agents and masters of this
 * protocol version.
 */
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const HelloSchema = z.strictObject({
  type: z.literal('hello'),
  protocol_version: z.literal(PROTOCOL_VERSION),
  worker_id: workerId,
  agent_version: z.string().min(1).max(64),
  specs: SpecsSchema,
});

export const HeartbeatSchema = z.strictObject({
  type: z.literal('heartbeat'),
  seq,
});

/** Sent when a re-probe finds specs other than the ones last sent. */
export const SpecsUpdateSchema = z.strictObject({
  type: z.literal('specs'),
  specs: SpecsSchema,
});

export const AgentMessageSchema = z.discriminatedUnion('type', [HelloSchema, HeartbeatSchema, SpecsUpdateSchema]);
export type AgentMessage = z.infer<typeof AgentMessageSchema>;
export type Hello = z.infer<typeof HelloSchema>;
export type Heartbeat = z.infer<typeof HeartbeatSchema>;
export type SpecsUpdate = z.infer<typeof SpecsUpdateSchema>;

/** The master's answer to a hello: the cadence it wants. */
export const WelcomeSchema = z.strictObject({
  type: z.literal('welcome'),
  protocol_version: z.literal(PROTOCOL_VERSION),
  heartbeat_interval_ms: z.number().int().min(CADENCE_LIMITS.heartbeatIntervalMs.min).max(CADENCE_LIMITS.heartbeatIntervalMs.max),
  heartbeat_timeout_ms: z.number().int().min(CADENCE_LIMITS.heartbeatTimeoutMs.min).max(CADENCE_LIMITS.heartbeatTimeoutMs.max),
});

/** Acknowledges a heartbeat; the agent's proof that the master is alive. */
export const AckSchema = z.strictObject({
  type: z.literal('ack'),
  seq,
});

export const MasterMessageSchema = z.discriminatedUnion('type', [WelcomeSchema, AckSchema]);
export type MasterMessage = z.infer<typeof MasterMessageSchema>;
export type Welcome = z.infer<typeof WelcomeSchema>;
export type Ack = z.infer<typeof AckSchema>;
