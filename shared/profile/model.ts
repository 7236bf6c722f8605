/**
 * The profile model, its limits and its field rules, without zod. The read side (`UserCache`,
 * `ProfileClient`) imports only this: a bare zod/mini object schema alone is ~15 KB of a consumer's
 * bundle, next to the ~80 KB of `@upstash/redis`, and the package promises a read-only Lambda under
 * 100 KB. `profile/schemas.ts` builds the zod schemas for untrusted write inputs from these same rules, and
 * test/profileModel.test.ts checks the two agree.
 */
import { ValidationError } from '../errors.js';
import { describeInteger, isIntegerIn } from '../options.js';

/** Limits are part of the public contract: they are documented in docs/routes.md, "Limits". */
export const LIMITS = {
  /** User ids: 1 to 64 characters of `A-Z a-z 0-9 _ -`. Nothing that could form Redis key syntax. */
  userIdPattern: /^[A-Za-z0-9_-]{1,64}$/,
  userIdMaxLength: 64,
  fullNameMaxLength: 200,
  avatarMaxLength: 2048,
  matriculeMaxLength: 32,
  ministereMaxLength: 32,
  /** Largest `batchGet` the cache accepts (the prewarmer writes 500 at a time). */
  cacheBatchMax: 1000,
  /**
   * Largest `GET /users/batch` request. API Gateway HTTP APIs cap the request line and headers at 10 KB:
   * 100 ids of 64 characters plus commas is 6.5 KB, which leaves room for the path and headers.
   */
  httpBatchMax: 100,
  /** Largest JSON body accepted on write routes, in bytes (of the UTF-8 text, after base64 decoding). */
  bodyMaxBytes: 16 * 1024,
  /** Most entity tags one `If-Match` may list (more is a 400: nobody holds that many versions). */
  ifMatchMaxTags: 20,
} as const;

/**
 * Ids no profile may be created with, because a route shadows them: `GET /users/batch` is the batch
 * route, so a profile `batch` could be written but never read back through `GET /users/{id}`.
 */
export const RESERVED_USER_IDS: ReadonlySet<string> = new Set(['batch']);

export const reservedIdMessage = (what: string): string =>
  `${what} is reserved: GET /users/batch is the batch route, so a profile with it could never be read`;

/** A cached or stored profile. Text fields come back exactly as stored (`"007"` stays `"007"`). */
export interface UserProfile {
  userId: string;
  fullName: string;
  /** Absolute http(s) URL of the avatar, or `''` when the user has none. */
  avatar: string;
  matricule: string;
  /** Ministry acronym, e.g. `MINFOP`, `MINSANTE`. */
  ministere: string;
  /** Last change in PostgreSQL, epoch milliseconds. Informational: ordering uses `version`. */
  updatedAt: number;
  /** Strictly increasing per row in PostgreSQL (starts at 1). The cache's fence: newer version wins. */
  version: number;
}

/** The editable part of a profile (what PUT takes and POST creates). */
export type ProfileFields = Pick<UserProfile, 'fullName' | 'avatar' | 'matricule' | 'ministere'>;

/** One text field's rule. `trim`: surrounding white space is removed before the checks. */
export interface TextRule {
  minLength: number;
  maxLength: number;
  pattern: RegExp;
  message: string;
  trim?: true;
}

/** The rules of the editable fields, written once (the database's CHECKs mirror them, see db/migrations.ts). */
export const FIELD_RULES: Readonly<Record<keyof ProfileFields, TextRule>> = {
  // No control characters anywhere: they break logs and CSV exports and are never legitimate in a name.
  fullName: {
    minLength: 1,
    maxLength: LIMITS.fullNameMaxLength,
    pattern: /^[^\p{Cc}]*$/u,
    message: 'must not contain control characters',
    trim: true,
  },
  // No spaces and no control characters (a NUL would even make PostgreSQL refuse the row).
  avatar: {
    minLength: 0,
    maxLength: LIMITS.avatarMaxLength,
    pattern: /^(https?:\/\/[^\s\p{Cc}]+)?$/u,
    message: 'must be an http(s) URL or empty',
  },
  matricule: {
    minLength: 1,
    maxLength: LIMITS.matriculeMaxLength,
    pattern: /^[A-Za-z0-9./-]+$/,
    message: 'must be letters, digits, ".", "/" or "-"',
  },
  ministere: {
    minLength: 2,
    maxLength: LIMITS.ministereMaxLength,
    pattern: /^[A-Z][A-Z0-9-]+$/,
    message: 'must be an upper-case acronym such as MINFOP',
  },
};

export const USER_ID_MESSAGE = `must be 1-${LIMITS.userIdMaxLength} characters of A-Z a-z 0-9 _ -`;

/**
 * A lone surrogate (`"\ud800"` in JSON) is valid JSON but not Unicode: PostgreSQL's jsonb refuses it
 * (22P02, which used to reach clients as a 503) and a text column would store U+FFFD instead. With the
 * `u` flag `\p{Cs}` matches only unpaired surrogates (a pair reads as one astral code point).
 */
export const LONE_SURROGATE = /\p{Cs}/u;
export const WELL_FORMED_MESSAGE = 'must be well-formed Unicode (no lone surrogate)';

/**
 * Lengths count Unicode code points, as PostgreSQL's `char_length` and zod's `maxLength` do: `😀` is 1,
 * `e` + U+0301 is 2. (`String.length` counts UTF-16 units and would refuse 101 emoji as "over 200".)
 */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Field paths and messages only: never the offending values, which may be PII. */
export type ProfileIssue = { path: string; message: string };

/** Throws `ValidationError('INVALID_USER_ID')` unless `id` is an id a new profile may take. */
export function assertNewUserId(id: unknown): asserts id is string {
  assertUserId(id);
  if (RESERVED_USER_IDS.has(id)) {
    throw new ValidationError('INVALID_USER_ID', reservedIdMessage(`"${id}"`), {
      userId: JSON.stringify(id),
    });
  }
}

/** Throws `ValidationError('INVALID_USER_ID')` unless `id` is a well-formed user id. */
export function assertUserId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !LIMITS.userIdPattern.test(id)) {
    throw new ValidationError('INVALID_USER_ID', 'userId must be 1-64 characters of A-Z a-z 0-9 _ -', {
      // Echo only a bounded, printable prefix: the id may be hostile (newlines, huge).
      userId: typeof id === 'string' ? JSON.stringify(id.slice(0, 80)) : typeof id,
    });
  }
}

/**
 * Parses a full profile (from an event, a fill or the API; unknown keys are dropped, `fullName` is
 * trimmed) or throws `ValidationError('INVALID_PROFILE')` listing every field that failed.
 */
export function parseUserProfile(input: unknown): UserProfile {
  const issues: ProfileIssue[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidProfile([{ path: '(root)', message: 'must be an object' }]);
  }
  const record = input as Record<string, unknown>;
  const text = {} as ProfileFields;
  for (const name of Object.keys(FIELD_RULES) as Array<keyof ProfileFields>) {
    const value = checkText(record[name], FIELD_RULES[name]);
    if (typeof value === 'string') text[name] = value;
    else issues.push({ path: name, message: value.message });
  }
  const { userId, updatedAt, version } = record;
  if (typeof userId !== 'string' || !LIMITS.userIdPattern.test(userId))
    issues.push({ path: 'userId', message: USER_ID_MESSAGE });
  // Safe integers only: beyond 2^53 two versions can share one value and the fence could not order them.
  if (!isIntegerIn(updatedAt, { min: 0 }))
    issues.push({ path: 'updatedAt', message: `must be ${describeInteger({ min: 0 })}` });
  if (!isIntegerIn(version, { min: 1 }))
    issues.push({ path: 'version', message: `must be ${describeInteger({ min: 1 })}` });
  if (issues.length > 0) throw invalidProfile(issues);
  return { ...text, userId: userId as string, updatedAt: updatedAt as number, version: version as number };
}

/** The checked (and maybe trimmed) text, or the first rule it breaks. */
export function checkText(value: unknown, rule: TextRule): string | { message: string } {
  if (typeof value !== 'string') return { message: 'must be a string' };
  const text = rule.trim ? value.trim() : value;
  if (LONE_SURROGATE.test(text)) return { message: WELL_FORMED_MESSAGE };
  // UTF-16 units are never fewer than code points: count code points only when it can matter.
  const length =
    text.length > rule.maxLength || text.length < rule.minLength * 2 ? codePointLength(text) : text.length;
  if (length < rule.minLength) return { message: tooShortMessage(rule) };
  if (length > rule.maxLength) return { message: tooLongMessage(rule) };
  if (!rule.pattern.test(text)) return { message: rule.message };
  return text;
}

export const tooShortMessage = (rule: TextRule): string =>
  rule.minLength === 1 ? 'must not be empty' : `must be at least ${rule.minLength} characters`;
export const tooLongMessage = (rule: TextRule): string => `must be at most ${rule.maxLength} characters`;

function invalidProfile(issues: ProfileIssue[]): ValidationError {
  return new ValidationError('INVALID_PROFILE', 'profile is invalid', { issues });
}
