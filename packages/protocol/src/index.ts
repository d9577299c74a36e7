export {
  PROTOCOL_VERSION,
  ACCEPTED_PROTOCOL_VERSIONS,
  isAcceptedProtocolVersion,
  previousProtocolVersion,
  protocolVersionFromHeader,
  type ProtocolVersion,
} from './version.js';
export { HARDWARE_LIMITS } from './hardware-limits.js';
export {
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
  EnrolledSchema,
  type Specs,
  type Hello,
  type Heartbeat,
  type SpecsUpdate,
  type AgentMessage,
  type Welcome,
  type Ack,
  type MasterMessage,
  type Enrolled,
} from './messages.js';
export { sameSpecs } from './same-specs.js';
export { parseAgentMessage, parseWithSchema } from './parse.js';
export { parseMasterMessage, parseEnrolledMessage } from './master-message-reader.js';
export { encode, type ParseResult, type RawFrame } from './frame.js';
export {
  ENROLLMENT_PROTOCOL_VERSION,
  ENROLL_SCHEME,
  ISSUED_TOKEN_PATTERN,
  enrollAuthorization,
  isEnrollAuthorization,
  parseEnrollAuthorization,
} from './enrollment.js';
