export {
  PROTOCOL_VERSION,
  ACCEPTED_PROTOCOL_VERSIONS,
  isAcceptedProtocolVersion,
  previousProtocolVersion,
  protocolVersionFromHeader,
  type ProtocolVersion,
} from './version.js';
export {
  HARDWARE_LIMITS,
  HardwareSchema,
  GpuInventorySchema,
  HostInventorySchema,
  MigDeviceSchema,
  type Hardware,
  type GpuInventory,
  type HostInventory,
  type MigDevice,
} from './hardware.js';
export { CADENCE_LIMITS, DEFAULTS, SPEC_LIMITS } from './defaults.js';
export { HEADERS, NOT_ADMITTED, bearer, parseBearer } from './headers.js';
export { WORKER_ID_PATTERN, WORKER_ID_MAX_LENGTH, isValidWorkerId } from './worker-id.js';
export {
  CloseCode,
  closeCodeName,
  reactionToClose,
  reactionToHttpStatus,
  type CloseCodeName,
  type CloseCodeValue,
  type Reaction,
} from './close-codes.js';
export {
  SpecsSchema,
  HelloSchema,
  HelloV1Schema,
  HelloV2Schema,
  HeartbeatSchema,
  SpecsUpdateSchema,
  SpecsUpdateV1Schema,
  SpecsUpdateV2Schema,
  AGENT_MESSAGE_SCHEMAS,
  AgentMessageSchema,
  WelcomeSchema,
  AckSchema,
  MasterMessageSchema,
  type Specs,
  type Hello,
  type Heartbeat,
  type SpecsUpdate,
  type AgentMessage,
  type Welcome,
  type Ack,
  type MasterMessage,
} from './messages.js';
export { sameSpecs } from './same-specs.js';
export { parseAgentMessage, parseMasterMessage, parseEnrolledMessage, encode, type ParseResult, type RawFrame } from './parse.js';
export {
  ENROLLMENT_PROTOCOL_VERSION,
  ENROLL_SCHEME,
  EnrolledSchema,
  enrollAuthorization,
  isEnrollAuthorization,
  parseEnrollAuthorization,
  type Enrolled,
} from './enrollment.js';
