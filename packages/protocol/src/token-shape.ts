/**
 * What every token the master issues looks like (worker credentials, admin
 * tokens, enrollment tokens: `generateToken` in the master), and so what an
 * Authorization header may carry. One definition, so that the header parsers
 * and the master's stores cannot come to disagree about what a token can be.
 */
const TOKEN_BODY = '[A-Za-z0-9_-]{16,256}';

export const ISSUED_TOKEN_PATTERN = new RegExp(`^${TOKEN_BODY}$`);

const AFTER_SCHEME = {
  Bearer: new RegExp(`^Bearer (${TOKEN_BODY})$`),
  Enroll: new RegExp(`^Enroll (${TOKEN_BODY})$`),
} as const;

/** The token of a `<scheme> <token>` header value, or undefined when malformed. */
export function tokenAfterScheme(scheme: keyof typeof AFTER_SCHEME, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return AFTER_SCHEME[scheme].exec(value)?.[1];
}
