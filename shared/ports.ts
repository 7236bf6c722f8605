/** Narrow ports that `shared/` logic takes through its options, so tests inject real clients. */

/** Milliseconds since the epoch. Injected so tests can move time without sleeping. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** The subset of Powertools Logger used here. Messages and extra keys must never carry profile fields. */
export interface LoggerPort {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
  /**
   * Whether `debug` prints anything, so callers skip building its extra keys on the hot path.
   * @default true (when absent)
   */
  isDebugEnabled?(): boolean;
}

/** A logger that drops everything (the default where logging is optional). */
export const silentLogger: LoggerPort = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  isDebugEnabled: () => false,
};
