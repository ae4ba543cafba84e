/** A command failure answered to the client as `{ ok: 0, errmsg, code, codeName }`, as mongod does. */
export class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    errmsg: string,
    /** Fields the server appends to the error reply (killSessions on mongos: failedHosts). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(errmsg);
    this.name = 'CommandError';
  }
}

export function toErrorReply(e: CommandError): { ok: 0; errmsg: string; code: number; codeName: string } {
  return { ...e.extra, ok: 0, errmsg: e.message, code: e.code, codeName: e.codeName };
}

/**
 * The RetriableError category of src/mongo/base/error_codes.yml (the codes a driver may retry on another
 * attempt): network and not-primary errors, shutdown, step-down.
 */
const RETRIABLE = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  133, // FailedToSatisfyReadPreference
  134, // ReadConcernMajorityNotAvailableYet
  189, // PrimarySteppedDown
  202, // NetworkInterfaceExceededTimeLimit
  234, // RetryChangeStream
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/** isTransientTransactionError (error_labels.cpp): codes that fail a transaction without side effects. */
const TRANSIENT = new Set([
  24, // LockTimeout
  112, // WriteConflict
  239, // SnapshotTooOld
  246, // SnapshotUnavailable
  267, // PreparedTransactionInProgress
]);

const COMMIT_OR_ABORT = new Set(['commitTransaction', 'abortTransaction']);

/**
 * ErrorLabelBuilder (src/mongo/db/error_labels.cpp):
 *  - TransientTransactionError: the command carries txnNumber and autocommit, and the code is transient; for a
 *    statement inside the transaction a retriable code or NoSuchTransaction also is; for commit/abort only
 *    NoSuchTransaction (there is no write concern error here);
 *  - RetryableWriteError: a retryable write (txnNumber without autocommit) or a commit/abort, failing with a
 *    retriable code.
 */
export function errorLabels(code: number, cmd: { txnNumber?: unknown; autocommit?: unknown }, name: string): string[] {
  if (cmd.txnNumber === undefined) return [];
  const labels: string[] = [];
  const inTransaction = cmd.autocommit !== undefined;
  const commitOrAbort = COMMIT_OR_ABORT.has(name);
  if (inTransaction) {
    const transient = TRANSIENT.has(code) || code === 251 || (!commitOrAbort && RETRIABLE.has(code));
    if (transient) labels.push('TransientTransactionError');
  }
  if ((!inTransaction || commitOrAbort) && RETRIABLE.has(code)) labels.push('RetryableWriteError');
  return labels;
}
