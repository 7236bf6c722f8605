/**
 * A clock that moves only when the code under test sleeps: loops with pauses run in milliseconds, and
 * every pause is recorded for the test to check.
 */
export function fakeTime(start = Date.now()) {
  let now = start;
  const sleeps: number[] = [];
  return {
    clock: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    sleeps,
  };
}
