/**
 * What a deployment stage (`STAGE`, the stack's `stage` prop) decides: every name two stages in one AWS
 * account or one Upstash database would otherwise share. The stack (`infra/`) and the functions
 * (`commons/config.ts`) both derive the names here, so an alarm always watches what the code emits and two
 * stages never read each other's keys, events, leases or metrics.
 */

import { DEFAULT_EVENTS_GROUP, DEFAULT_EVENTS_STREAM } from '../../shared/defaults.js';

/** POWERTOOLS_SERVICE_NAME without a stage; a stage appends `-<stage>`. */
export const DEFAULT_SERVICE_NAME = 'user-cache';
/** POWERTOOLS_METRICS_NAMESPACE without a stage; a stage appends `/<stage>`. */
export const DEFAULT_METRICS_NAMESPACE = 'NgomnaUserCache';

/** Lower-case letters, digits and dashes, starting with a letter: safe in key, metric and resource names. */
export const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;

export interface StageNames {
  /** Prefix of every Redis key: profiles, counters, activity, leases (`<prefix>user:poller:lease`). */
  keyPrefix: string;
  /** The events stream (and, with `:dead`, its dead-letter stream), under the key prefix. */
  eventsStream: string;
  /** The poller's consumer group. */
  eventsGroup: string;
  /** POWERTOOLS_SERVICE_NAME: the `service` metric dimension and the alarm-name prefix. */
  serviceName: string;
  /** POWERTOOLS_METRICS_NAMESPACE. */
  metricsNamespace: string;
}

export function stageNames(stage: string): StageNames {
  return {
    keyPrefix: `${stage}:`,
    eventsStream: `${stage}:${DEFAULT_EVENTS_STREAM}`,
    eventsGroup: `${DEFAULT_EVENTS_GROUP}-${stage}`,
    serviceName: `${DEFAULT_SERVICE_NAME}-${stage}`,
    metricsNamespace: `${DEFAULT_METRICS_NAMESPACE}/${stage}`,
  };
}
