/**
 * Text that came from a user or a peer, made safe to print: every character
 * outside printable ASCII becomes a \uXXXX escape. JSON.stringify alone
 * escapes only C0 controls, which leaves DEL, C1 controls (U+009B is a
 * terminal's CSI), bidi overrides (U+202E) and zero-width characters to reach
 * a terminal or the journal raw, where they can rewrite or hide what is shown.
 */
const UNPRINTABLE = /[^\x20-\x7e]/g;

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** Escapes every character outside printable ASCII (surrogate pairs become two escapes). */
export function escapeUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, escapeChar);
}

/**
 * For error messages: JSON-quoted (so quotes and backslashes in the value
 * cannot break the sentence), escaped, and cut at `maxChars` characters of
 * the value, marked with an ellipsis inside the quotes.
 */
export function quote(value: unknown, maxChars = 80): string {
  const text = typeof value === 'string' ? value : String(value);
  const shown = escapeUnprintable(JSON.stringify(text.slice(0, maxChars)));
  return text.length > maxChars ? `${shown.slice(0, -1)}…"` : shown;
}

/**
 * For a log field holding peer-supplied text (a header that failed
 * validation, a close reason, an agent version): escaped and at most
 * `maxChars` long once escaped, then an ellipsis. Never cuts an escape in two.
 */
export function printableForLog(value: string | readonly string[] | undefined, maxChars = 64): string | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : value.join(',');
  let out = '';
  for (const c of text) {
    const piece = escapeUnprintable(c);
    if (out.length + piece.length > maxChars) return `${out}…`;
    out += piece;
  }
  return out;
}
