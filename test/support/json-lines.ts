/**
 * The JSON lines a Lambda function's code writes (Powertools Logger and Metrics), read back in-process.
 */

/**
 * Runs fn with process.stdout and process.stderr captured: the JSON lines written meanwhile (Powertools writes
 * ERROR lines to stderr, the rest to stdout; Lambda sends both to CloudWatch Logs).
 */
export async function captured<T>(fn: () => Promise<T>): Promise<{ value: T; lines: Record<string, any>[] }> {
  const lines: Record<string, any>[] = [];
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((stream) => stream.write);
  streams.forEach((stream, i) => {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (typeof chunk === 'string') {
        for (const l of chunk.split('\n')) {
          if (!l.startsWith('{')) continue;
          try {
            lines.push(JSON.parse(l));
          } catch {
            // not one of ours (the test runner's own output)
          }
        }
      }
      return (writes[i] as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
    }) as typeof stream.write;
  });
  try {
    return { value: await fn(), lines };
  } finally {
    streams.forEach((stream, i) => void (stream.write = writes[i]!));
  }
}
