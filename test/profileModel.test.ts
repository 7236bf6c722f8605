/**
 * The read side's zod-free profile parser (`profile/model.ts`) against the zod schemas the write side
 * validates with (`profile/schemas.ts`): both come from the same FIELD_RULES, and must accept, reject and
 * normalise exactly the same profiles, or a profile the API stored could be refused by a consumer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { ValidationError } from '../shared/errors.js';
import { LIMITS, parseUserProfile } from '../shared/profile/model.js';
import { profileFieldsSchema, userIdSchema } from '../shared/profile/schemas.js';

/** The full-profile schema as it was written with zod before the read side dropped it. */
const zodProfile = z.object({
  ...profileFieldsSchema.shape,
  userId: userIdSchema,
  updatedAt: z.number().check(z.int(), z.nonnegative()),
  version: z.number().check(z.int(), z.positive()),
});

const valid = {
  userId: 'u000042',
  fullName: 'Mbarga Serge',
  avatar: 'https://cdn.example.cm/a/42.png',
  matricule: '007',
  ministere: 'MINFOP',
  updatedAt: 1_736_862_000_000,
  version: 3,
};

/** Values near every rule's edges: lengths, control characters, spaces, wrong types. */
const text = fc.oneof(
  fc.constantFrom('', ' ', 'a', 'AB', 'MINSANTE', 'A-1', 'x/y.z', ' padded ', 'tab\there', 'nul\u0000'),
  fc.constantFrom('https://a.cm/x', 'http://b', 'ftp://c', 'https://a b', 'https://\u0085x'),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: fc.constantFrom('A', 'z', '0', '-', '_', '.', '/', ' ', '\n', 'é'), maxLength: 40 }),
  fc.integer({ min: 0, max: 3 }).map((k) => 'x'.repeat([31, 32, 33, 200][k]!)),
  fc.constantFrom(
    ' '.repeat(3),
    `${'y'.repeat(200)} `,
    'z'.repeat(201),
    'h'.repeat(LIMITS.avatarMaxLength + 1),
  ),
  // Lengths count code points on both sides (an astral character is one), and lone surrogates fail.
  fc.constantFrom(
    '😀'.repeat(200),
    '😀'.repeat(201),
    `https://a.cm/${'𝕏'.repeat(2035)}`,
    '\ud800',
    'a\udc00b',
    'é😀',
  ),
  fc.constantFrom(null, undefined, 42, true, ['A']),
);
const count = fc.oneof(
  fc.constantFrom(0, 1, -1, 1.5, 2 ** 53 - 1, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, -0),
  fc.integer(),
  fc.constantFrom('1', null, undefined),
);

const profileLike = fc.record(
  {
    userId: fc.oneof(fc.constantFrom('u1', 'a-b_C', 'a b', '', 'x'.repeat(65)), fc.string({ maxLength: 6 })),
    fullName: text,
    avatar: text,
    matricule: text,
    ministere: text,
    updatedAt: count,
    version: count,
    extra: fc.constantFrom(undefined, 'kept out'),
  },
  { requiredKeys: [] },
);

function paths(error: unknown): string[] {
  expect(error).toBeInstanceOf(ValidationError);
  const issues = (error as ValidationError).details?.issues as Array<{ path: string }>;
  return [...new Set(issues.map((issue) => issue.path))].sort();
}

describe('parseUserProfile() (zod-free)', () => {
  it('returns a valid profile with its text fields, trimmed name and no unknown keys', () => {
    expect(parseUserProfile({ ...valid, fullName: '  Mbarga Serge ', role: 'admin' })).toEqual(valid);
  });

  it('lists every failing field, by path, without their values', () => {
    const bad = { ...valid, fullName: 'secret\u0007name', ministere: 'x', version: 0 };
    expect(() => parseUserProfile(bad)).toThrow(ValidationError);
    try {
      parseUserProfile(bad);
    } catch (error) {
      expect((error as ValidationError).code).toBe('INVALID_PROFILE');
      expect(paths(error)).toEqual(['fullName', 'ministere', 'version']);
      expect(JSON.stringify((error as ValidationError).details)).not.toContain('secret');
    }
  });

  it('refuses what is not an object', () => {
    for (const input of [null, undefined, 'u1', 42, [valid]]) {
      expect(() => parseUserProfile(input)).toThrow(ValidationError);
    }
  });

  it('accepts, rejects and normalises exactly like the zod schema of the write side', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          profileLike,
          profileLike.map((p) => ({ ...valid, ...p })),
        ),
        (input) => {
          const expected = zodProfile.safeParse(input);
          let actual: { ok: true; value: unknown } | { ok: false; error: unknown };
          try {
            actual = { ok: true, value: parseUserProfile(input) };
          } catch (error) {
            actual = { ok: false, error };
          }
          expect(actual.ok).toBe(expected.success);
          if (actual.ok && expected.success) expect(actual.value).toEqual(expected.data);
          if (!actual.ok && !expected.success) {
            const zodPaths = [...new Set(expected.error.issues.map((i) => String(i.path[0] ?? '(root)')))];
            expect(paths(actual.error)).toEqual(zodPaths.sort());
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
