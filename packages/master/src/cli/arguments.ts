import { UsageError } from '../errors.js';

/**
 * yargs turns `--min-cpu abc` into NaN (or null) without complaint; these
 * coercions make such a value a usage error that names the flag instead.
 */
export function nonNegativeNumber(flag: string, { integer = false } = {}): (value: unknown) => number {
  return (value) => {
    if (Array.isArray(value)) throw new UsageError(`give --${flag} once`);
    const text = String(value).trim();
    const number = text === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(number) || number < 0 || (integer && !Number.isInteger(number))) {
      throw new UsageError(`--${flag} needs ${integer ? 'a whole number' : 'a number'} >= 0, got ${JSON.stringify(text.slice(0, 40))}`);
    }
    return number;
  };
}

/** A whole number in [min, max]: outside it is a usage error, never silently clamped. */
export function wholeNumberBetween(flag: string, min: number, max: number): (value: unknown) => number {
  return (value) => {
    if (Array.isArray(value)) throw new UsageError(`give --${flag} once`);
    const text = String(value).trim();
    const number = text === '' ? Number.NaN : Number(text);
    if (!Number.isInteger(number) || number < min || number > max) {
      throw new UsageError(`--${flag} needs a whole number from ${min} to ${max}, got ${JSON.stringify(text.slice(0, 40))}`);
    }
    return number;
  };
}

/** A string option given once (yargs makes an array of a repeated flag). */
export function singleString(flag: string): (value: unknown) => string {
  return (value) => {
    if (Array.isArray(value)) throw new UsageError(`give --${flag} once`);
    return String(value);
  };
}
