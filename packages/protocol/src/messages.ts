import { z } from 'zod';
import { CADENCE_LIMITS, SPEC_LIMITS } from './defaults.js';
import { ENROLLMENT_PROTOCOL_VERSION, ISSUED_TOKEN_PATTERN } from './enrollment.js';
import { HardwareSchema } from './hardware.js';
import { ACCEPTED_PROTOCOL_VERSIONS, type ProtocolVersion } from './version.js';
import { WORKER_ID_PATTERN } from './worker-id.js';

/**
 * Every message is defined once here and parsed once at each edge (see
 * parse.ts). Objects are strict: an unknown field is a bad message, because a
 * peer that sends one speaks a protocol version we do not.
 *
 * What an agent may send depends on the protocol version admitted at the
 * upgrade: AGENT_MESSAGE_SCHEMAS holds one schema per accepted version, so a
 * master admits agents of the previous version with the messages of that
 * version, unchanged. A new version adds its schema here and to version.ts.
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

const helloFields = {
  type: z.literal('hello'),
  worker_id: workerId,
  agent_version: z.string().min(1).max(64),
  specs: SpecsSchema,
};

/** Protocol version 1's hello: the four totals. */
export const HelloV1Schema = z.strictObject({ ...helloFields, protocol_version: z.literal(1) });
/** Protocol version 2's hello: the totals and, when the agent could measure it, the inventory. */
export const HelloV2Schema = z.strictObject({ ...helloFields, protocol_version: z.literal(2), hardware: HardwareSchema.optional() });

export const HeartbeatSchema = z.strictObject({
  type: z.literal('heartbeat'),
  seq,
});

/** Sent when a re-probe finds specs (or, from version 2, an inventory) other than the ones last sent. */
export const SpecsUpdateV1Schema = z.strictObject({
  type: z.literal('specs'),
  specs: SpecsSchema,
});
export const SpecsUpdateV2Schema = z.strictObject({
  type: z.literal('specs'),
  specs: SpecsSchema,
  hardware: HardwareSchema.optional(),
});

const AgentMessageV1Schema = z.discriminatedUnion('type', [HelloV1Schema, HeartbeatSchema, SpecsUpdateV1Schema]);
const AgentMessageV2Schema = z.discriminatedUnion('type', [HelloV2Schema, HeartbeatSchema, SpecsUpdateV2Schema]);

/** What an agent may send, by the protocol version admitted at the upgrade. */
export const AGENT_MESSAGE_SCHEMAS = {
  1: AgentMessageV1Schema,
  2: AgentMessageV2Schema,
} as const satisfies Record<ProtocolVersion, z.ZodType>;

/** The newest version's messages. */
export const AgentMessageSchema = AgentMessageV2Schema;
export const HelloSchema = HelloV2Schema;
export const SpecsUpdateSchema = SpecsUpdateV2Schema;

/** A message of any accepted version; narrow on `protocol_version` (hello) or `'hardware' in` (specs). */
export type AgentMessage = z.infer<typeof AgentMessageV1Schema> | z.infer<typeof AgentMessageV2Schema>;
export type Hello = Extract<AgentMessage, { type: 'hello' }>;
export type Heartbeat = z.infer<typeof HeartbeatSchema>;
export type SpecsUpdate = Extract<AgentMessage, { type: 'specs' }>;

/** The master's answer to a hello: the cadence it wants. */
export const WelcomeSchema = z.strictObject({
  type: z.literal('welcome'),
  /** The version of the agent's hello (the one admitted at the upgrade). */
  protocol_version: z.union(ACCEPTED_PROTOCOL_VERSIONS.map((v) => z.literal(v))),
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

/** The master's one message on an enrollment connection. */
export const EnrolledSchema = z.strictObject({
  type: z.literal('enrolled'),
  protocol_version: z.literal(ENROLLMENT_PROTOCOL_VERSION),
  worker_id: z.string().regex(WORKER_ID_PATTERN),
  /** The worker's own credential, from now on sent as `Authorization: Bearer <token>`. */
  token: z.string().regex(ISSUED_TOKEN_PATTERN),
});
export type Enrolled = z.infer<typeof EnrolledSchema>;
