/**
 * One write to a stream that settles when the chunk is handed to the OS, or fails. A stream error
 * (EPIPE when the reader of a pipe went away) is listened for during the write, so it rejects the
 * write instead of being an unhandled 'error' event that would crash the process. A stream that already
 * failed or was closed is not written to: the write would fail again, or (destroyed streams) report the
 * failure only through an 'error' event nobody may be listening for.
 */
export function writeFully(target: NodeJS.WritableStream, data: string): Promise<void> {
  const stream = target as NodeJS.WritableStream & { errored?: Error | null; destroyed?: boolean; writableEnded?: boolean };
  if (stream.errored) return Promise.reject(stream.errored);
  if (stream.destroyed || stream.writableEnded) return Promise.reject(new Error('the output stream is closed'));
  return new Promise((resolve, reject) => {
    // Kept for the whole write and a moment after: on failure the stream emits 'error' after the
    // callback (on the next tick), and may emit more than one.
    const onError = (error: Error): void => reject(error);
    stream.on('error', onError);
    stream.write(data, (error?: Error | null) => {
      if (error) {
        reject(error);
        setImmediate(() => stream.off('error', onError));
        return;
      }
      stream.off('error', onError);
      resolve();
    });
  });
}
