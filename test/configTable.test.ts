import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../functions/commons/config.js';
import { SETTINGS } from '../functions/commons/settings.js';
import { settingsToEnvironment } from '../infra/constructs/environment.js';
import { renderConfigTable, TABLE_END, TABLE_START, withConfigTable } from '../local/configTable.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const ENV_NAMES = Object.values(SETTINGS).map((s) => s.env);

describe('the configuration table (functions/commons/settings.ts)', () => {
  it('is the README configuration table, row for row (run `npm run docs:config` after a change)', () => {
    const start = README.indexOf(TABLE_START);
    const end = README.indexOf(TABLE_END);
    expect(start).toBeGreaterThan(-1);
    expect(README.slice(start + TABLE_START.length, end).trim()).toBe(renderConfigTable());
    expect(withConfigTable(README)).toBe(README);
  });

  it('has one row per variable, each named once', () => {
    expect(new Set(ENV_NAMES).size).toBe(ENV_NAMES.length);
    for (const name of ENV_NAMES) expect(README).toContain(`| \`${name}\` |`);
  });

  it('names every variable loadConfig reads, and loadConfig reads every one of them', () => {
    const read = new Set<string>();
    const env = new Proxy(
      { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1', UPSTASH_REDIS_REST_TOKEN: 't' } as Record<
        string,
        string
      >,
      {
        get(target, name) {
          if (typeof name === 'string') read.add(name);
          return target[name as string];
        },
      },
    );

    loadConfig(env);

    expect([...read].sort()).toEqual([...ENV_NAMES].sort());
  });

  it('gives the stack the same variable names for every setting it may set', () => {
    const env = settingsToEnvironment({ ttlSeconds: 86_400, eventsStream: 's', prewarmSource: 'sql' });

    expect(env).toEqual({
      [SETTINGS.ttlSeconds.env]: '86400',
      [SETTINGS.eventsStream.env]: 's',
      [SETTINGS.prewarmSource.env]: 'sql',
    });
    expect(
      loadConfig({ ...env, UPSTASH_REDIS_REST_URL: 'http://x', UPSTASH_REDIS_REST_TOKEN: 't' }),
    ).toMatchObject({
      cache: { ttlSeconds: 86_400 },
      events: { stream: 's' },
      prewarm: { source: 'sql' },
    });
  });

  it('applies each default of the table when the variable is unset', () => {
    const config = loadConfig({ UPSTASH_REDIS_REST_URL: 'http://x', UPSTASH_REDIS_REST_TOKEN: 't' });

    expect(config).toMatchObject({
      redisTimeoutMs: SETTINGS.redisTimeoutMs.default,
      cache: { ttlSeconds: SETTINGS.ttlSeconds.default, ttlJitter: SETTINGS.ttlJitter.default },
      events: { stream: SETTINGS.eventsStream.default, maxLen: SETTINGS.eventsStreamMaxLen.default },
      prewarm: {
        batchSize: SETTINGS.prewarmBatchSize.default,
        deadlineMinutes: SETTINGS.prewarmDeadlineMinutes.default,
      },
      audit: { sampleSize: SETTINGS.auditSampleSize.default },
    });
  });
});
