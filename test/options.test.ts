import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/errors.js';
import { describeInteger, integerOption, isIntegerIn } from '../shared/options.js';

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
