import { describe, expect, it } from 'vitest';
import { TtlPolicy } from '../shared/cache/ttl.js';
import { OutboxPurger } from '../shared/db/outboxPurge.js';
import { ConfigError } from '../shared/errors.js';
import {
  describeInteger,
  describeNumber,
  integerOption,
  isIntegerIn,
  numberOption,
} from '../shared/options.js';

describe('integerOption()', () => {
  it('returns a value within its bounds, both ends included', () => {
    expect(integerOption('count', 1, { min: 1, max: 1000 })).toBe(1);
    expect(integerOption('count', 1000, { min: 1, max: 1000 })).toBe(1000);
    expect(integerOption('pauseMs', 0, { min: 0 })).toBe(0);
    expect(integerOption('maxLen', Number.MAX_SAFE_INTEGER, { min: 1 })).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each([
    ['below the minimum', 0],
    ['above the maximum', 1001],
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['past 2^53 (neighbouring integers compare equal)', 2 ** 53],
  ])(
    'throws a ConfigError with code CONFIG_INVALID for %s, naming the option and its range',
    (_label, value) => {
      let caught: unknown;
      try {
        integerOption('count', value, { min: 1, max: 1000 });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      const error = caught as ConfigError;
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.details).toEqual({ option: 'count', min: 1, max: 1000 });
      expect(error.message).toBe('count must be an integer from 1 to 1000');
    },
  );

  it('leaves the maximum out of the details when there is none', () => {
    expect(() => integerOption('ttlMs', -1, { min: 1 })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', details: { option: 'ttlMs', min: 1 } }),
    );
  });
});

describe('isIntegerIn()', () => {
  it('refuses what is not a number at all', () => {
    expect(isIntegerIn('5', { min: 0 })).toBe(false);
    expect(isIntegerIn(undefined, { min: 0 })).toBe(false);
    expect(isIntegerIn(5, { min: 0 })).toBe(true);
  });
});

describe('describeInteger()', () => {
  it('states an open range by its minimum and a closed one by both ends', () => {
    expect(describeInteger({ min: 0 })).toBe('an integer >= 0');
    expect(describeInteger({ min: 1, max: 2 })).toBe('an integer from 1 to 2');
  });
});

describe('numberOption()', () => {
  it('returns a finite value within its bounds, inclusive and exclusive ends as given', () => {
    expect(numberOption('windowDays', 0.5, { above: 0 })).toBe(0.5);
    expect(numberOption('ttlJitter', 0, { min: 0, below: 1 })).toBe(0);
    expect(numberOption('ttlJitter', 0.999, { min: 0, below: 1 })).toBe(0.999);
    expect(numberOption('share', 1, { min: 0, max: 1 })).toBe(1);
    expect(numberOption('budgetMs', Number.POSITIVE_INFINITY, { above: 0, allowInfinity: true })).toBe(
      Number.POSITIVE_INFINITY,
    );
  });

  it.each([
    ['at an exclusive lower bound', 0, { above: 0 }],
    ['at an exclusive upper bound', 1, { min: 0, below: 1 }],
    ['below an inclusive minimum', -0.01, { min: 0, below: 1 }],
    ['above an inclusive maximum', 1.01, { min: 0, max: 1 }],
    ['NaN', Number.NaN, { above: 0 }],
    ['Infinity', Number.POSITIVE_INFINITY, { above: 0 }],
  ])(
    'throws a ConfigError with code CONFIG_INVALID %s, naming the option and its range',
    (_l, value, bounds) => {
      let caught: unknown;
      try {
        numberOption('opt', value, bounds);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).code).toBe('CONFIG_INVALID');
      expect((caught as ConfigError).message).toBe(`opt must be ${describeNumber(bounds)}`);
      expect((caught as ConfigError).details).toEqual({ option: 'opt', ...bounds });
    },
  );

  it('states ranges one way', () => {
    expect(describeNumber({ above: 0 })).toBe('a number > 0');
    expect(describeNumber({ min: 0, below: 1 })).toBe('a number >= 0 and < 1');
    expect(describeNumber({})).toBe('a finite number');
  });

  it('is what the constructors with fractional options use', () => {
    const sql = { query: async () => ({ rows: [], rowCount: 0 }) } as never;
    expect(() => new OutboxPurger({ sql, retentionDays: 0 })).toThrow('retentionDays must be a number > 0');
    const ttl = { profileSeconds: 60, negativeSeconds: 60, tombstoneSeconds: 60 };
    expect(() => new TtlPolicy({ ...ttl, jitter: 1 }, Math.random)).toThrow(
      'ttlJitter must be a number >= 0 and < 1',
    );
    expect(new TtlPolicy({ ...ttl, jitter: 0.05 }, Math.random)).toBeInstanceOf(TtlPolicy);
  });
});
