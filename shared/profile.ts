/**
 * The profile model and every input limit, in one place. Lambda code imports `zod/mini` (about 16 KB
 * bundled against 450 KB for classic zod: cold starts matter more than API sugar here).
 */
import * as z from 'zod/mini';
import { ValidationError } from './errors.js';

/** Limits are part of the public contract: they are documented in the README's "Limits" table. */
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
  /** Largest JSON body accepted on write routes, in bytes. */
  bodyMaxBytes: 16 * 1024,
} as const;

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

// No control characters anywhere: they break logs and CSV exports and are never legitimate in a name.
const noControl = z.regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

export const userIdSchema = z
  .string()
  .check(z.regex(LIMITS.userIdPattern, `must be 1-${LIMITS.userIdMaxLength} characters of A-Z a-z 0-9 _ -`));

export const profileFieldsSchema = z.strictObject({
  fullName: z
    .string()
    .check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(LIMITS.fullNameMaxLength), noControl),
  avatar: z.string().check(
    z.maxLength(LIMITS.avatarMaxLength),
    // No spaces and no control characters (a NUL would even make PostgreSQL refuse the row).
    z.regex(/^(https?:\/\/[^\s\p{Cc}]+)?$/u, 'must be an http(s) URL or empty'),
  ),
  matricule: z
    .string()
    .check(
      z.minLength(1, 'must not be empty'),
      z.maxLength(LIMITS.matriculeMaxLength),
      z.regex(/^[A-Za-z0-9./-]+$/, 'must be letters, digits, ".", "/" or "-"'),
    ),
  ministere: z
    .string()
    .check(
      z.minLength(2),
      z.maxLength(LIMITS.ministereMaxLength),
      z.regex(/^[A-Z][A-Z0-9-]+$/, 'must be an upper-case acronym such as MINFOP'),
    ),
});

export const userProfileSchema = z.object({
  ...profileFieldsSchema.shape,
  userId: userIdSchema,
  updatedAt: z.number().check(z.int(), z.nonnegative()),
  version: z.number().check(z.int(), z.positive()),
});

/** Throws `ValidationError('INVALID_USER_ID')` unless `id` is a well-formed user id. */
export function assertUserId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !LIMITS.userIdPattern.test(id)) {
    throw new ValidationError('INVALID_USER_ID', 'userId must be 1-64 characters of A-Z a-z 0-9 _ -', {
      // Echo only a bounded, printable prefix: the id may be hostile (newlines, huge).
      userId: typeof id === 'string' ? JSON.stringify(id.slice(0, 80)) : typeof id,
    });
  }
}

/** Parses a full profile (from an event or a fill; unknown keys are dropped) or throws `ValidationError('INVALID_PROFILE')`. */
export function parseUserProfile(input: unknown): UserProfile {
  const parsed = userProfileSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError('INVALID_PROFILE', 'profile is invalid', {
      issues: summarizeIssues(parsed.error),
    });
  }
  return parsed.data;
}

/** Field paths and messages only: never the offending values, which may be PII. */
export function summarizeIssues(error: z.core.$ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((issue) => ({ path: issue.path.join('.') || '(root)', message: issue.message }));
}
