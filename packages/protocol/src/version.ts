/**
 * Wire protocol version. The agent sends it in its upgrade request and in its
 * hello; the master refuses any other version with HTTP 426 / close 4426.
 * Bump it on any change an older peer could misread.
 */
export const PROTOCOL_VERSION = 1;
