/**
 * The `events:users` stream contract. Our API publishes these fields; other producers (the seed's
 * auth-user-service) may XADD directly, so parsing is lenient where the seed was vague and strict where
 * correctness needs it.
 *
 * Entry fields (all strings, as Redis stores them):
 * | field        | required | meaning                                                                   |
 * |--------------|----------|---------------------------------------------------------------------------|
 * | `type`       | yes*     | `user.profile.created` / `.updated` / `.deleted` (*or `event`; `created`… accepted) |
 * | `userId`     | yes      | the profile id (`id` accepted)                                            |
 * | `version`    | no       | the row's PostgreSQL version; without it the event only invalidates       |
 * | `occurredAt` | no       | commit time, epoch ms (for lag metrics)                                   |
 * | `payload`    | created/updated | JSON of `fullName`, `avatar`, `matricule`, `ministere`, `updatedAt` |
 * | `eventId`    | no       | producer's id (our outbox row id), for tracing                            |
 */
import * as z from 'zod/mini';
import { ValidationError } from '../errors.js';
import { profileFieldsSchema, summarizeIssues, type UserProfile, userIdSchema } from '../profile/schemas.js';

export const USER_EVENT_TYPES = [
  'user.profile.created',
  'user.profile.updated',
  'user.profile.deleted',
] as const;
export type UserEventType = (typeof USER_EVENT_TYPES)[number];

/** A parsed event, ready to apply to the cache. */
export type UserEvent =
  | {
      type: 'user.profile.created' | 'user.profile.updated';
      userId: string;
      /** Undefined for producers that send no version: the event is then applied as an invalidation. */
      version: number | undefined;
      occurredAt: number | undefined;
      eventId: string | undefined;
      /** Present when the payload carried every field and a version is known. */
      profile: UserProfile | undefined;
    }
  | {
      type: 'user.profile.deleted';
      userId: string;
      version: number | undefined;
      occurredAt: number | undefined;
      eventId: string | undefined;
    };

/** Entry whose type is well-formed but not one we handle: acknowledged and counted, not dead-lettered. */
export interface UnknownEvent {
  type: 'unknown';
  rawType: string;
}

// At most 16 digits, and then at most Number.MAX_SAFE_INTEGER: 9007199254740993 has 16 digits but no exact
// double, so Number() would round it to a different version (and the cache's encoder refuses it later).
const intString = z.string().check(
  z.regex(/^\d{1,16}$/, 'must be a non-negative integer'),
  z.refine((s) => Number.isSafeInteger(Number(s)), 'must be at most 9007199254740991'),
);

const payloadSchema = z.object({
  ...profileFieldsSchema.shape,
  updatedAt: z.optional(z.union([z.number(), intString])),
});

/**
 * Parses one stream entry (`fields` as a flat object of strings). Throws `ValidationError('INVALID_EVENT')`
 * for malformed entries (they go to the dead-letter stream); returns `UnknownEvent` for unknown types.
 */
export function parseStreamEntry(fields: Readonly<Record<string, string>>): UserEvent | UnknownEvent {
  const rawType = fields.type ?? fields.event;
  if (rawType === undefined) throw invalid('missing field "type" (or "event")');
  const type = normalizeType(rawType);
  if (type === undefined) return { type: 'unknown', rawType: rawType.slice(0, 64) };

  const userId = fields.userId ?? fields.id;
  if (!userIdSchema.safeParse(userId).success) throw invalid('missing or malformed "userId"');
  const version = optionalInt(fields.version, 'version');
  // PostgreSQL versions start at 1; a 0 would slip under every fence (a tombstone at 0 hides a live row).
  if (version === 0) throw invalid('"version" must be at least 1');
  const occurredAt = optionalInt(fields.occurredAt, 'occurredAt');
  const base = { userId: userId as string, version, occurredAt, eventId: fields.eventId };
  if (type === 'user.profile.deleted') return { type, ...base };

  let profile: UserProfile | undefined;
  if (fields.payload !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(fields.payload);
    } catch {
      throw invalid('"payload" is not JSON');
    }
    const parsed = payloadSchema.safeParse(json);
    if (!parsed.success)
      throw invalid('"payload" is not a valid profile', { issues: summarizeIssues(parsed.error) });
    if (version !== undefined) {
      const { updatedAt, ...rest } = parsed.data;
      profile = { ...rest, userId: base.userId, version, updatedAt: Number(updatedAt ?? occurredAt ?? 0) };
    }
  } else if (version !== undefined) {
    throw invalid(`"payload" is required for ${type}`);
  }
  return { type, ...base, profile };
}

/** Stream fields for an event we publish (the exact inverse of `parseStreamEntry`). */
export function toStreamFields(event: {
  type: UserEventType;
  userId: string;
  version: number;
  occurredAt: number;
  eventId?: string;
  profile?: UserProfile | null;
}): Record<string, string> {
  const fields: Record<string, string> = {
    type: event.type,
    userId: event.userId,
    version: String(event.version),
    occurredAt: String(event.occurredAt),
  };
  if (event.eventId !== undefined) fields.eventId = event.eventId;
  if (event.profile) {
    const { fullName, avatar, matricule, ministere, updatedAt } = event.profile;
    fields.payload = JSON.stringify({ fullName, avatar, matricule, ministere, updatedAt });
  }
  return fields;
}

function normalizeType(raw: string): UserEventType | undefined {
  const full = raw.includes('.') ? raw : `user.profile.${raw}`;
  return (USER_EVENT_TYPES as readonly string[]).includes(full) ? (full as UserEventType) : undefined;
}

function optionalInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,16}$/.test(value)) throw invalid(`"${name}" must be a non-negative integer`);
  const n = Number(value);
  // Past 2^53 the string has no exact number: the version would change in transit, and every fence
  // comparison with it would be meaningless. Malformed, so dead-lettered at once.
  if (!Number.isSafeInteger(n)) throw invalid(`"${name}" must be at most ${Number.MAX_SAFE_INTEGER}`);
  return n;
}

function invalid(message: string, details?: Record<string, unknown>): ValidationError {
  return new ValidationError('INVALID_EVENT', message, details);
}
