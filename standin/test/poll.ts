/**
 * Waiting for an event the test caused (an operation to appear, a connection to close): short polls, with
 * a limit that only guards against a hang; no assertion depends on how long it took.
 */
export async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
