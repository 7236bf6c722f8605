/**
 * `@chatapp-ngomna/shared/server`: the parts that own PostgreSQL and the events stream (the users API,
 * the stream poller, the prewarm and audit jobs). They take a `Sql` port; this entry imports no driver,
 * so it loads without `pg`. The `pg` adapter is `@chatapp-ngomna/shared/pg` (an optional peer).
 * @see ../docs/api.md
 */

export {
  type ActivePage,
  type ActiveUserSource,
  RedisActivitySource,
  type RedisActivitySourceOptions,
  SqlActivitySource,
  type SqlActivitySourceOptions,
} from './activitySources.js';
export {
  type AuditFinding,
  type AuditReport,
  ConsistencyAuditor,
  type ConsistencyAuditorOptions,
  type InconsistencyKind,
} from './auditor.js';
export type { RotationReport } from './auditRotation.js';
export { pruneActivity } from './cache/activity.js';
/** The poller's `maxEventAgeMs` for given cache TTLs: past it an event only invalidates (docs/events.md). */
export { AGED_EVENT_MARGIN_MS, type FenceLifetimes, maxSafeEventAgeMs } from './cache/ttl.js';
export { type MigrateOptions, migrate } from './db/migrate.js';
export { type Migration, migrations } from './db/migrations.js';
export {
  AlreadyExistsError,
  DatabaseError,
  LeaseHeldError,
  LeaseLostError,
  NotFoundError,
  VersionConflictError,
} from './errors.js';
export {
  EventPublisher,
  type EventPublisherOptions,
  type EventPublisherRedis,
  type OutboxRepository,
} from './eventPublisher.js';
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
} from './lease.js';
export { OutboxPurger, type OutboxPurgerOptions, type PurgeReport } from './outboxPurge.js';
export { POLLER_SCHEDULE, type PollerSchedule } from './pollerSchedule.js';
export {
  MemoryPrewarmCheckpoint,
  type PrewarmCheckpointStore,
  type PrewarmCycle,
  RedisPrewarmCheckpoint,
  type RedisPrewarmCheckpointOptions,
} from './prewarmCheckpoint.js';
export { Prewarmer, type PrewarmerOptions, type PrewarmProgress, type PrewarmReport } from './prewarmer.js';
export {
  type OutboxEvent,
  ProfileRepository,
  type ProfileRepositoryOptions,
  type StoredProfile,
  type VersionFloor,
  type WriteResult,
} from './profileRepository.js';
export type { Sql, SqlQueryable } from './sql.js';
export {
  type PollReport,
  type Relay,
  StreamConsumer,
  type StreamConsumerOptions,
  type StreamConsumerRedis,
} from './streamConsumer.js';
