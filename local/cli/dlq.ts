/**
 * `npm run dlq -- list|show|replay [--stream|--queue NAME] [ID…]`: the dead letters of one stage.
 * - `--stream` (default): the poller's dead-letter stream `<events stream>:dead`, on the Upstash
 *   database of UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN, names from STAGE (or EVENTS_STREAM),
 *   as functions/commons/config.ts reads them.
 * - `--queue failed-runs|scheduler-dead-letters|<queue URL>`: an SQS failure queue, through the AWS
 *   CLI; the names are looked up in the outputs of the stack `--stack NAME` (default
 *   `NgomnaUserCache-<STAGE>`).
 * See docs/runbook.md#redrive for when to replay.
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { loadConfig } from '../../functions/commons/config.js';
import { createRedisClient } from '../../shared/redis/client.js';
import { awsCliAdapters, QueueRedrive } from '../dlqQueue.js';
import { StreamRedrive } from '../dlqStream.js';

const QUEUE_OUTPUTS: Record<string, string> = {
  'failed-runs': 'FailedRunsQueueUrl',
  'scheduler-dead-letters': 'SchedulerDeadLettersQueueUrl',
};

const USAGE = 'usage: npm run dlq -- list|show|replay [--stream | --queue NAME] [--stack NAME] [ID…]';

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { stream: { type: 'boolean' }, queue: { type: 'string' }, stack: { type: 'string' } },
  });
  const [command, ...ids] = positionals;
  if (command !== 'list' && command !== 'show' && command !== 'replay') {
    console.error(USAGE);
    return 2;
  }
  if (command === 'show' && ids.length !== 1) {
    console.error('show takes exactly one ID');
    return 2;
  }
  const config = loadConfig();
  const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));

  if (values.queue === undefined) {
    if (config.upstash.source !== 'env') {
      console.error("set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (the stage's Upstash database)");
      return 2;
    }
    const redis = createRedisClient({
      url: config.upstash.url,
      token: config.upstash.token,
      timeoutMs: 5_000,
    });
    const redrive = new StreamRedrive({ redis, stream: config.events.stream, maxLen: config.events.maxLen });
    if (command === 'list') print(await redrive.list());
    else if (command === 'show') print((await redrive.show(ids[0] as string)) ?? { error: 'no such entry' });
    else print(await redrive.replay(ids.length > 0 ? ids : undefined));
    return 0;
  }

  const url = values.queue.startsWith('https://')
    ? values.queue
    : await queueUrl(values.queue, values.stack ?? `NgomnaUserCache-${config.stage ?? 'dev'}`);
  const { queue, invoker } = awsCliAdapters(url);
  const redrive = new QueueRedrive(queue, invoker);
  if (command === 'list') print(await redrive.list());
  else if (command === 'show')
    print((await redrive.list()).find((m) => m.message.messageId === ids[0]) ?? {});
  else print(await redrive.replay(ids.length > 0 ? ids : undefined));
  return 0;
}

async function queueUrl(name: string, stack: string): Promise<string> {
  const output = QUEUE_OUTPUTS[name];
  if (!output) throw new Error(`--queue must be ${Object.keys(QUEUE_OUTPUTS).join(' or ')}, or a queue URL`);
  const { stdout } = await promisify(execFile)('aws', [
    'cloudformation',
    'describe-stacks',
    '--stack-name',
    stack,
    '--query',
    `Stacks[0].Outputs[?OutputKey=='${output}'].OutputValue`,
    '--output',
    'text',
  ]);
  return stdout.trim();
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
