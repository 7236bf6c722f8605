/**
 * The profile's zod schemas, for untrusted write inputs (API bodies, event payloads). They are built from
 * the rules in `profileModel.ts`, which also holds the model, the limits and the zod-free parser the read
 * side uses. Lambda code imports `zod/mini` (about 16 KB bundled against 450 KB for classic zod: cold
 * starts matter more than API sugar here).
 */
import * as z from 'zod/mini';
import {
  FIELD_RULES,
  LIMITS,
  type TextRule,
  tooLongMessage,
  tooShortMessage,
  USER_ID_MESSAGE,
} from './profileModel.js';

export {
  assertUserId,
  LIMITS,
  type ProfileFields,
  parseUserProfile,
  type UserProfile,
} from './profileModel.js';

function textSchema(rule: TextRule) {
  const checks = [
    z.minLength(rule.minLength, tooShortMessage(rule)),
    z.maxLength(rule.maxLength, tooLongMessage(rule)),
    z.regex(rule.pattern, rule.message),
  ];
  // Trimmed first, so the length checks (and the stored value) see the trimmed text.
  return rule.trim ? z.string().check(z.trim(), ...checks) : z.string().check(...checks);
}

export const userIdSchema = z.string().check(z.regex(LIMITS.userIdPattern, USER_ID_MESSAGE));

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
