export { PROTOCOL_VERSION } from './version.js';
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
  HeartbeatSchema,
  SpecsUpdateSchema,
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
export { parseAgentMessage, parseMasterMessage, encode, type ParseResult, type RawFrame } from './parse.js';
