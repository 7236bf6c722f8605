/**
 * Redrive of the SQS failure queues. Two kinds of message arrive there:
 * - Lambda's failure record (failed async runs, after their retries): JSON with
 *   `requestContext.functionArn` (the `live` alias that was invoked) and `requestPayload`;
 * - Scheduler's dead letter (an invocation it could not deliver): the event as body, the target in the
 *   `TARGET_ARN` message attribute.
 * A replay invokes that target asynchronously with the original event, and deletes the message only
 * after the invocation was accepted: a failed invoke leaves it in the queue for the next attempt. The
 * scheduled jobs are safe to rerun (leases and version fences), so a replay that runs twice harms
 * nothing. SQS and Lambda sit behind two small ports; `awsCliAdapters` implements them with the AWS CLI.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface QueueMessage {
  messageId: string;
  /** Needed to delete the message; valid while it is invisible to others. */
  receiptHandle: string;
  body: string;
  /** Message attributes as strings (Scheduler's ERROR_CODE, ERROR_MESSAGE, TARGET_ARN…). */
  attributes: Record<string, string>;
  /** SentTimestamp, ms since the epoch. */
  sentAt: number;
}

/** The SQS calls redrive needs. */
export interface FailureQueuePort {
  /**
   * Up to `max` messages. `hideForSeconds: 0` only looks (they stay visible: `list`, `show`); a replay
   * hides them while it works so a concurrent replay does not take the same message.
   */
  receive(max: number, hideForSeconds: number): Promise<QueueMessage[]>;
  delete(receiptHandle: string): Promise<void>;
}

/** Lambda's asynchronous Invoke (InvocationType Event). */
export interface InvokerPort {
  invokeAsync(functionArn: string, payload: string): Promise<void>;
}

export interface FailedRun {
  messageId: string;
  /** What to invoke again, e.g. `arn:aws:lambda:…:function:…-prewarm:live`. */
  target: string;
  /** The event to invoke it with (JSON text). */
  payload: string;
  /** Why it failed, as the record says. */
  error: string;
  sentAt: number;
}

export type QueueReplayOutcome =
  | { messageId: string; status: 'replayed'; target: string }
  | { messageId: string; status: 'refused'; reason: string };

/** Reads either kind of message; undefined for one that is neither (shown, never replayed). */
export function parseFailedRun(message: QueueMessage): FailedRun | undefined {
  const base = { messageId: message.messageId, sentAt: message.sentAt };
  const target = message.attributes.TARGET_ARN;
  if (target) {
    const error = [message.attributes.ERROR_CODE, message.attributes.ERROR_MESSAGE]
      .filter(Boolean)
      .join(': ');
    return { ...base, target, payload: message.body || '{}', error };
  }
  let record: unknown;
  try {
    record = JSON.parse(message.body);
  } catch {
    return undefined;
  }
  const r = record as {
    requestContext?: { functionArn?: unknown; condition?: unknown };
    requestPayload?: unknown;
    responsePayload?: { errorType?: unknown; errorMessage?: unknown } | null;
  };
  const arn = r.requestContext?.functionArn;
  if (typeof arn !== 'string') return undefined;
  const response = r.responsePayload;
  const error =
    [response?.errorType, response?.errorMessage, r.requestContext?.condition]
      .filter((part) => typeof part === 'string' && part)
      .join(': ') || 'unknown';
  return { ...base, target: arn, payload: JSON.stringify(r.requestPayload ?? {}), error };
}

export class QueueRedrive {
  constructor(
    private readonly queue: FailureQueuePort,
    private readonly invoker: InvokerPort,
  ) {}

  /** Looks at up to `max` messages without taking them. */
  async list(max = 10): Promise<Array<{ message: QueueMessage; run: FailedRun | undefined }>> {
    const messages = await this.queue.receive(max, 0);
    return messages.map((message) => ({ message, run: parseFailedRun(message) }));
  }

  /** Replays the messages received now (only `ids` when given); deletes each after its invoke succeeded. */
  async replay(ids?: readonly string[], max = 10): Promise<QueueReplayOutcome[]> {
    const wanted = ids && new Set(ids);
    // Hidden for 5 minutes: long enough to invoke and delete, short enough that a crash releases them.
    const messages = await this.queue.receive(max, 300);
    const outcomes: QueueReplayOutcome[] = [];
    for (const message of messages) {
      if (wanted && !wanted.has(message.messageId)) continue;
      const run = parseFailedRun(message);
      if (!run) {
        outcomes.push({ messageId: message.messageId, status: 'refused', reason: 'not a failure record' });
        continue;
      }
      try {
        await this.invoker.invokeAsync(run.target, run.payload);
      } catch (error) {
        outcomes.push({
          messageId: message.messageId,
          status: 'refused',
          reason: `invoke failed, message kept: ${error instanceof Error ? error.message : String(error)}`,
        });
        continue;
      }
      await this.queue.delete(message.receiptHandle);
      outcomes.push({ messageId: message.messageId, status: 'replayed', target: run.target });
    }
    return outcomes;
  }
}

const run = promisify(execFile);

/** The ports on the AWS CLI (`aws` on PATH, credentials from the usual profile/env). */
export function awsCliAdapters(queueUrl: string): { queue: FailureQueuePort; invoker: InvokerPort } {
  const aws = async (args: string[]) => (await run('aws', [...args, '--output', 'json'])).stdout;
  return {
    queue: {
      async receive(max, hideForSeconds) {
        const out = await aws([
          'sqs',
          'receive-message',
          '--queue-url',
          queueUrl,
          '--max-number-of-messages',
          String(Math.min(10, max)),
          '--visibility-timeout',
          String(hideForSeconds),
          '--attribute-names',
          'SentTimestamp',
          '--message-attribute-names',
          'All',
        ]);
        const parsed = (out.trim() ? JSON.parse(out) : {}) as {
          Messages?: Array<{
            MessageId: string;
            ReceiptHandle: string;
            Body: string;
            Attributes?: { SentTimestamp?: string };
            MessageAttributes?: Record<string, { StringValue?: string }>;
          }>;
        };
        return (parsed.Messages ?? []).map((m) => ({
          messageId: m.MessageId,
          receiptHandle: m.ReceiptHandle,
          body: m.Body,
          sentAt: Number(m.Attributes?.SentTimestamp ?? 0),
          attributes: Object.fromEntries(
            Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
          ),
        }));
      },
      async delete(receiptHandle) {
        await aws(['sqs', 'delete-message', '--queue-url', queueUrl, '--receipt-handle', receiptHandle]);
      },
    },
    invoker: {
      async invokeAsync(functionArn, payload) {
        await run('aws', [
          'lambda',
          'invoke',
          '--function-name',
          functionArn,
          '--invocation-type',
          'Event',
          '--cli-binary-format',
          'raw-in-base64-out',
          '--payload',
          payload,
          '/dev/null',
        ]);
      },
    },
  };
}
