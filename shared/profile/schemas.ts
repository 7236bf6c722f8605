/**
 * The profile's zod schemas, for untrusted write inputs (API bodies, event payloads). They are built from
 * the rules in `profile/model.ts`, which also holds the model, the limits and the zod-free parser the read
 * side uses. Lambda code imports `zod/mini` (about 16 KB bundled against 450 KB for classic zod: cold
 * starts matter more than API sugar here).
 */
import * as z from 'zod/mini';
import {
  FIELD_RULES,
  LIMITS,
  LONE_SURROGATE,
  RESERVED_USER_IDS,
  reservedIdMessage,
  type TextRule,
  tooLongMessage,
  tooShortMessage,
  USER_ID_MESSAGE,
  WELL_FORMED_MESSAGE,
} from './model.js';

export {
  assertNewUserId,
  assertUserId,
  LIMITS,
  type ProfileFields,
  parseUserProfile,
  RESERVED_USER_IDS,
  type UserProfile,
} from './model.js';

const wellFormed = z.refine<string>((text) => !LONE_SURROGATE.test(text), { message: WELL_FORMED_MESSAGE });

function textSchema(rule: TextRule) {
  const checks = [
    wellFormed,
    // zod counts code points for strings, as `checkText` and PostgreSQL's char_length do.
    z.minLength(rule.minLength, tooShortMessage(rule)),
    z.maxLength(rule.maxLength, tooLongMessage(rule)),
    z.regex(rule.pattern, rule.message),
  ];
  // Trimmed first, so the length checks (and the stored value) see the trimmed text.
  return rule.trim ? z.string().check(z.trim(), ...checks) : z.string().check(...checks);
}

export const userIdSchema = z.string().check(z.regex(LIMITS.userIdPattern, USER_ID_MESSAGE));

/** An id a new profile may take: a valid id that no route shadows (see `RESERVED_USER_IDS`). */
export const newUserIdSchema = z.string().check(
  z.regex(LIMITS.userIdPattern, USER_ID_MESSAGE),
  z.refine((id) => !RESERVED_USER_IDS.has(id), { message: reservedIdMessage('this id') }),
);

export const profileFieldsSchema = z.strictObject({
  fullName: textSchema(FIELD_RULES.fullName),
  avatar: textSchema(FIELD_RULES.avatar),
  matricule: textSchema(FIELD_RULES.matricule),
  ministere: textSchema(FIELD_RULES.ministere),
});

/** Field paths and messages only: never the offending values, which may be PII. */
export function summarizeIssues(error: z.core.$ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((issue) => ({ path: issue.path.join('.') || '(root)', message: issue.message }));
}
