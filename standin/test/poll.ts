/**
 * Waiting for an event the test caused (an operation to appear, a connection to close): short polls, with
 * a limit that only guards against a hang; no assertion depends on how long it took. The probe answers
 * "not yet" with undefined, null or false; anything else is what the wait returns.
 */
export async function until<T>(probe: () => Promise<T | undefined | null | false>, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** until() with the description first, for probes written as long inline functions. */
export const waitFor = <T>(what: string, probe: () => Promise<T | undefined | null | false>): Promise<T> => until(probe, what);
