/**
 * The one validator of numeric options and inputs. Constructors call `integerOption` for each numeric
 * option so an invalid value is a `ConfigError` at construction (never a bad command later); request
 * validation and parsers use `isIntegerIn` with their own error (a `ValidationError` code, a CLI exit), and
 * `describeInteger` so every message states the allowed range the same way. Options that need not be whole
 * (days, fractions) go through `numberOption`.
 */
import { ConfigError } from './errors.js';

/** An inclusive range of integers. */
export interface IntegerBounds {
  /** Smallest allowed value. */
  readonly min: number;
  /** Largest allowed value. @default Number.MAX_SAFE_INTEGER */
  readonly max?: number;
}

/**
 * Whether `value` is a safe integer within `bounds`. Safe, not merely integral: above 2^53 neighbouring
 * integers compare equal, so a limit or a version there would not mean what it says.
 */
export function isIntegerIn(value: unknown, bounds: IntegerBounds): value is number {
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= bounds.min && value <= max;
}

/** The allowed range as the messages state it: "an integer from 1 to 1000", "an integer >= 0". */
export function describeInteger(bounds: IntegerBounds): string {
  return bounds.max === undefined || bounds.max === Number.MAX_SAFE_INTEGER
    ? `an integer >= ${bounds.min}`
    : `an integer from ${bounds.min} to ${bounds.max}`;
}

/**
 * Returns `value` when it is an integer within `bounds`; otherwise throws a `ConfigError`
 * (code `CONFIG_INVALID`) whose message starts with `name` and whose details name the option and its range.
 */
export function integerOption(name: string, value: number, bounds: IntegerBounds): number {
  if (isIntegerIn(value, bounds)) return value;
  throw new ConfigError(`${name} must be ${describeInteger(bounds)}`, {
    details: { option: name, min: bounds.min, ...(bounds.max !== undefined && { max: bounds.max }) },
  });
}

/** A range of numbers. `above` and `below` are exclusive bounds, `min` and `max` inclusive ones. */
export interface NumberBounds {
  readonly min?: number;
  readonly above?: number;
  readonly max?: number;
  readonly below?: number;
  /** Whether `Infinity` passes the bounds (a budget meaning "no limit"). @default false */
  readonly allowInfinity?: boolean;
}

/** The allowed range as the messages state it: "a number > 0", "a number >= 0 and < 1". */
export function describeNumber(bounds: NumberBounds): string {
  const parts = [
    bounds.min !== undefined && `>= ${bounds.min}`,
    bounds.above !== undefined && `> ${bounds.above}`,
    bounds.max !== undefined && `<= ${bounds.max}`,
    bounds.below !== undefined && `< ${bounds.below}`,
  ].filter((p): p is string => typeof p === 'string');
  return parts.length === 0 ? 'a finite number' : `a number ${parts.join(' and ')}`;
}

/**
 * Returns `value` when it is a finite number within `bounds`; otherwise throws a `ConfigError`
 * (code `CONFIG_INVALID`) whose message starts with `name` and whose details name the option and its range.
 */
export function numberOption(name: string, value: number, bounds: NumberBounds): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (bounds.allowInfinity === true || Number.isFinite(value)) &&
    (bounds.min === undefined || value >= bounds.min) &&
    (bounds.above === undefined || value > bounds.above) &&
    (bounds.max === undefined || value <= bounds.max) &&
    (bounds.below === undefined || value < bounds.below);
  if (ok) return value;
  throw new ConfigError(`${name} must be ${describeNumber(bounds)}`, {
    details: { option: name, ...bounds },
  });
}
