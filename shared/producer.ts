/**
 * `@chatapp-ngomna/shared/producer`: for a service that changes profiles in PostgreSQL itself and must
 * tell the cache (the seed's auth-user-service). It XADDs versioned events the poller applies through
 * the version fence. Needs `@upstash/redis` only (no driver): build the client with `createRedisClient`
 * from the package root.
 * @see ../docs/api.md
 */

export { DEAD_LETTER_SUFFIX, DEFAULT_EVENTS_STREAM, DEFAULT_STREAM_MAX_LEN } from './defaults.js';
export { EventProducer, type EventProducerOptions, type ProfileChange } from './stream/eventProducer.js';
export { USER_EVENT_TYPES, type UserEventType } from './stream/events.js';
