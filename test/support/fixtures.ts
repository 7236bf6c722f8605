/**
 * Test data shared by every test file: fresh ids, valid profile fields and stored profiles. The defaults
 * are deliberately awkward for a cache: an accented name, a matricule with a leading zero ('007', which
 * JSON deserialization would turn into 7) and a non-empty avatar URL, so a round trip that loses any of
 * them fails whichever test happens to use the defaults.
 */
import type { ProfileFields, UserProfile } from '../../shared/profile/schemas.js';

let ids = 0;

/**
 * A user id no other test has used: `prefix`, the time in base 36 and a per-file counter (vitest loads
 * this module once per test file). Always a valid id (letters, digits, `_`, `-`; well under 64 characters)
 * as long as `prefix` is one.
 * @default prefix 'u'
 */
export const newId = (prefix = 'u'): string => `${prefix}${Date.now().toString(36)}${(ids++).toString(36)}`;

const DEFAULT_FIELDS: Readonly<ProfileFields> = {
  fullName: 'Ngono Marie-Claire',
  avatar: 'https://avatars.ngomna.cm/ngono.jpg',
  matricule: '007',
  ministere: 'MINESUP',
};

/**
 * Valid profile fields (what a create or update takes). A string is the full name; an object overrides
 * any field.
 */
export function fields(nameOrOverrides: string | Partial<ProfileFields> = {}): ProfileFields {
  const overrides = typeof nameOrOverrides === 'string' ? { fullName: nameOrOverrides } : nameOrOverrides;
  return { ...DEFAULT_FIELDS, ...overrides };
}

/**
 * A request body built on valid fields where any value may be replaced by anything (a number, null, an
 * over-long string): for tests of what the API refuses.
 */
export const bodyFields = (
  overrides: { [K in keyof ProfileFields]?: unknown } = {},
): Record<string, unknown> => ({
  ...DEFAULT_FIELDS,
  ...overrides,
});

/**
 * A profile as the cache stores it: `fields()` with the version in the name (so two versions differ) and
 * a fixed `updatedAt` that grows with the version.
 * @default version 1
 */
export function storedProfile(
  userId: string,
  version = 1,
  overrides: Partial<UserProfile> = {},
): UserProfile {
  return {
    userId,
    ...fields(`${DEFAULT_FIELDS.fullName} v${version}`),
    updatedAt: 1_736_862_000_000 + version,
    version,
    ...overrides,
  };
}
