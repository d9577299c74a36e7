/**
 * Replaces every occurrence of every secret with `***`. Used on any text that
 * may quote a connection string or a driver message before it is shown, as a
 * second line of defence behind never putting the password there at all.
 * Longer secrets go first so that one secret containing another is fully hidden.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  const ordered = [...new Set(secrets)].filter((secret) => secret.length > 0).sort((a, b) => b.length - a.length);
  for (const secret of ordered) result = result.split(secret).join('***');
  return result;
}
