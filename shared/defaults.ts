/**
 * Defaults that more than one place needs, each written once: the library's options (`@default` links
 * here), the Lambda settings table (`functions/commons/settings.ts`, which feeds the config parser, the
 * stack's environment and the README) and the stage names (`functions/commons/stage.ts`) all import them.
 * A default only one option uses stays next to that option.
 */
export { DEFAULT_STREAM_MAX_LEN } from './stream/bounds.js';

/** The events stream producers XADD to and the poller reads (the seed's name). */
export const DEFAULT_EVENTS_STREAM = 'events:users';
/** Suffix of the poller's dead-letter stream: `<events stream>:dead`. */
export const DEAD_LETTER_SUFFIX = ':dead';
/** The poller's consumer group. */
export const DEFAULT_EVENTS_GROUP = 'user-cache';

/** Profile TTL, seconds (7 days). */
export const DEFAULT_TTL_SECONDS = 604_800;
/** Fraction of the profile TTL that expiries are spread over. */
export const DEFAULT_TTL_JITTER = 0.05;
/** TTL of a negative entry (an id PostgreSQL does not have), seconds. */
export const DEFAULT_NEGATIVE_TTL_SECONDS = 60;
/** TTL of tombstones and invalidation markers, seconds (7 days). */
export const DEFAULT_TOMBSTONE_TTL_SECONDS = 604_800;
/** How often one instance records a user's read in the activity set, at most, ms (1 hour). */
export const DEFAULT_ACTIVITY_INTERVAL_MS = 3_600_000;

/** Per-request Redis timeout on API paths, ms: a slow Redis must fall back to PostgreSQL quickly. */
export const DEFAULT_REDIS_TIMEOUT_MS = 250;

/** Profiles per prewarm batch. */
export const DEFAULT_PREWARM_BATCH_SIZE = 500;
/** Pause between two prewarm batches, ms (leaves Upstash throughput to live traffic). */
export const DEFAULT_PREWARM_PAUSE_MS = 1_500;
/** Users active within this many days are prewarmed. */
export const DEFAULT_PREWARM_WINDOW_DAYS = 7;
/** A prewarm cycle not complete this many minutes after its first run is reported (2.5 hours). */
export const DEFAULT_PREWARM_DEADLINE_MINUTES = 150;

/** Published outbox rows older than this many days are purged. */
export const DEFAULT_OUTBOX_RETENTION_DAYS = 7;

/** Log level of the JSON logger (POWERTOOLS_LOG_LEVEL). */
export const DEFAULT_LOG_LEVEL = 'INFO';
