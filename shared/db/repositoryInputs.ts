/**
 * Input checks of `ProfileRepository`, run before any statement is sent: a bad call costs no round trip
 * and never reaches the database's CHECK constraints (which stay as the backstop).
 */
import { ValidationError } from '../errors.js';
import { describeInteger, isIntegerIn } from '../options.js';
import { LIMITS, type ProfileFields, profileFieldsSchema, summarizeIssues } from '../profile/schemas.js';
import { toPayload } from './rows.js';

/** Largest page for the list methods: bounded so one call cannot pull a whole table into a Lambda. */
export const MAX_PAGE = 1000;

export function parseFields(fields: ProfileFields): ProfileFields {
  const parsed = profileFieldsSchema.safeParse(fields);
  if (!parsed.success) {
    throw new ValidationError('INVALID_PROFILE', 'profile is invalid', {
      issues: summarizeIssues(parsed.error),
    });
  }
  return parsed.data;
}

/** Column values in the order the write statements expect ($2…$6). */
export function columnsOf(fields: ProfileFields): unknown[] {
  return [
    fields.matricule,
    fields.fullName,
    fields.avatar,
    fields.ministere,
    JSON.stringify(toPayload(fields)),
  ];
}

/** The `bigint[]` parameter of the conditional writes: `null` means unconditional, `[]` matches nothing. */
export function parseIfMatch(ifMatch: number | readonly number[] | undefined): number[] | null {
  if (ifMatch === undefined) return null;
  const versions = typeof ifMatch === 'number' ? [ifMatch] : [...ifMatch];
  if (versions.length > LIMITS.ifMatchMaxTags || versions.some((v) => !isIntegerIn(v, { min: 1 }))) {
    throw new ValidationError(
      'INVALID_VERSION',
      `ifMatch must be a positive integer or at most ${LIMITS.ifMatchMaxTags} of them`,
    );
  }
  return versions;
}

export function assertPageSize(limit: number): void {
  const bounds = { min: 1, max: MAX_PAGE };
  if (!isIntegerIn(limit, bounds)) {
    throw new ValidationError('INVALID_QUERY', `limit must be ${describeInteger(bounds)}`);
  }
}

export function assertEpochMs(ms: number): void {
  if (!isIntegerIn(ms, { min: 0 })) {
    throw new ValidationError('INVALID_QUERY', 'timestamps must be non-negative epoch milliseconds');
  }
}
