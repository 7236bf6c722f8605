/**
 * `@chatapp-ngomna/shared/server`: the parts that own PostgreSQL and the events stream (the users API,
 * the stream poller, the prewarm and audit jobs). They take a `Sql` port; this entry imports no driver,
 * so it loads without `pg`. The `pg` adapter is `@chatapp-ngomna/shared/pg` (an optional peer).
 * @see ../docs/api.md
 */

export {
  type AuditFinding,
  type AuditReport,
  ConsistencyAuditor,
  type ConsistencyAuditorOptions,
  type InconsistencyKind,
} from './audit/auditor.js';
export type { RotationReport } from './audit/rotation.js';
export { pruneActivity } from './cache/activity.js';
/** The poller's `maxEventAgeMs` for given cache TTLs: past it an event only invalidates (docs/events.md). */
export { AGED_EVENT_MARGIN_MS, type FenceLifetimes, maxSafeEventAgeMs } from './cache/ttl.js';
export { type MigrateOptions, migrate } from './db/migrate.js';
export { type Migration, migrations } from './db/migrations.js';
export { OutboxPurger, type OutboxPurgerOptions, type PurgeReport } from './db/outboxPurge.js';
export {
  type OutboxEvent,
  ProfileRepository,
  type ProfileRepositoryOptions,
  type StoredProfile,
  type VersionFloor,
  type WriteResult,
} from './db/profileRepository.js';
export type { Sql, SqlQueryable } from './db/sql.js';
// Every default is public (shared/defaults.ts holds only them), so they are re-exported as a whole.
export * from './defaults.js';
export {
  AlreadyExistsError,
  DatabaseError,
  LeaseHeldError,
  LeaseLostError,
  NotFoundError,
  VersionConflictError,
} from './errors.js';
export {
  type ActivePage,
  type ActiveUserSource,
  IdListSource,
  RedisActivitySource,
  type RedisActivitySourceOptions,
  SqlActivitySource,
  type SqlActivitySourceOptions,
} from './prewarm/activitySources.js';
export {
  MemoryPrewarmCheckpoint,
  type PrewarmCheckpointStore,
  type PrewarmCycle,
  RedisPrewarmCheckpoint,
  type RedisPrewarmCheckpointOptions,
} from './prewarm/checkpoint.js';
export {
  Prewarmer,
  type PrewarmerOptions,
  type PrewarmProgress,
  type PrewarmReport,
} from './prewarm/prewarmer.js';
export {
  type HandoverLeasePort,
  type Heartbeat,
  Lease,
  type LeaseFence,
  type LeaseOptions,
  type LeasePort,
  type LeaseRedis,
  waitForLease,
  withLease,
} from './redis/lease.js';
export {
  type PollReport,
  type Relay,
  StreamConsumer,
  type StreamConsumerOptions,
  type StreamConsumerRedis,
} from './stream/consumer.js';
export {
  EventPublisher,
  type EventPublisherOptions,
  type EventPublisherRedis,
  type OutboxRepository,
} from './stream/eventPublisher.js';
export { POLLER_SCHEDULE, type PollerSchedule } from './stream/pollerSchedule.js';
