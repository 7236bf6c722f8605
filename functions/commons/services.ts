/**
 * The one composition of the profile services (cache, event publisher, service) on given clients. Lambda
 * (`commons/dependencies.ts`), the local stack and the test stack all build them here, so a new dependency or
 * option is wired once.
 */
import type { Redis } from '@upstash/redis';
import type { ProfileRepository } from '../../shared/db/profileRepository.js';
import type { LoggerPort } from '../../shared/ports.js';
import { ProfileService } from '../../shared/profile/service.js';
import { EventPublisher } from '../../shared/stream/eventPublisher.js';
import { UserCache, type UserCacheOptions } from '../../shared/userCache.js';
import { type MetricsPort, recordLookups } from './route.js';

export interface ProfileServices {
  cache: UserCache;
  publisher: EventPublisher;
  service: ProfileService;
}

export interface ProfileServicesOptions {
  redis: Redis;
  repository: ProfileRepository;
  /** UserCache settings (key prefix, TTLs, breaker…); `redis` and `logger` come from here. */
  cache?: Omit<UserCacheOptions, 'redis' | 'logger'>;
  /** The events stream the publisher XADDs to. */
  stream: string;
  /** @default EventPublisher's (1,000,000) */
  maxLen?: number;
  logger: LoggerPort;
  /** Receives CacheHit / CacheMiss / DbFallback per read. */
  metrics: MetricsPort;
}

export function buildProfileServices(o: ProfileServicesOptions): ProfileServices {
  const cache = new UserCache({ redis: o.redis, ...o.cache, logger: o.logger });
  const publisher = new EventPublisher({
    redis: o.redis,
    stream: o.stream,
    maxLen: o.maxLen,
    repository: o.repository,
  });
  const service = new ProfileService({
    cache,
    repository: o.repository,
    publisher,
    logger: o.logger,
    onLookups: (tally) => recordLookups(o.metrics, tally),
  });
  return { cache, publisher, service };
}
