/**
 * The repository's domain types, apart from the repository so that the row mappers (`rows.ts`) and the
 * queries can use them without importing the repository itself (no import cycle).
 */
import type { UserProfile } from '../profile/schemas.js';
import type { UserEventType } from '../stream/events.js';

/** A row of `personnel`, soft-deleted ones included (`deletedAt` is then their deletion time). */
export interface StoredProfile extends UserProfile {
  deletedAt: number | null;
}

/** One `outbox` row. `profile` is the state after the change; `null` for deletions. */
export interface OutboxEvent {
  /** `outbox.id` (a bigint, kept as a string so it never loses precision). */
  outboxId: string;
  type: UserEventType;
  userId: string;
  version: number;
  occurredAt: number;
  profile: UserProfile | null;
}

/** The version a conditional write requires, or the versions of which it requires one (`[]`: none). */
export type IfMatch = number | readonly number[];

/** See `ProfileRepository.getVersionFloors`. */
export interface VersionFloor {
  version: number;
  changedAt: number;
}

export interface WriteResult {
  profile: UserProfile;
  event: OutboxEvent;
}
