/**
 * `@cluster/protocol/agent-side`: what the agent needs of the protocol, without
 * zod (about 6 MB of the resident agent's memory). Everything here is also
 * exported by the package's main entry; the schemas (messages.ts, hardware.ts)
 * are not here, only their types. index.test.ts checks that nothing here loads zod.
 */
export {
  PROTOCOL_VERSION,
  ACCEPTED_PROTOCOL_VERSIONS,
  isAcceptedProtocolVersion,
  previousProtocolVersion,
  protocolVersionFromHeader,
  type ProtocolVersion,
} from './version.js';
export { HARDWARE_LIMITS } from './hardware-limits.js';
export type { Hardware, GpuInventory, HostInventory, MigDevice } from './hardware.js';
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
export type { Specs, Hello, Heartbeat, SpecsUpdate, AgentMessage, Welcome, Ack, MasterMessage, Enrolled } from './messages.js';
export { sameSpecs } from './same-specs.js';
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
