/** Failed kills of one pass that share an error (the run summary's killFailures). */
export interface KillFailureGroup {
  error: { code?: number; codeName?: string; message: string };
  /** How many kills failed with this error. */
  count: number;
  /** Ids of sessions whose kill failed with it: a sample, the first KILL_FAILURE_IDS_MAX. */
  sessionIds: string[];
  /** Opids of sessionless operations whose killOp failed with it: a sample, likewise. */
  opids: string[];
}


/**
 * One root error class with named subclasses, each carrying `cause` (the Powertools pattern).
 * Every message names the problem and the fix.
 */
export class ReaperError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid configuration (environment, flags): names the setting. */
export class ConfigError extends ReaperError {}

/** A policy file or rule that does not validate: names the file, the rule and the field. */
export class PolicyError extends ReaperError {
  constructor(
    message: string,
    readonly file: string,
    readonly rule?: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The MongoDB side failed (connection, listing, kill). */
export class MongoStageError extends ReaperError {}

/** Audit events could not be delivered after all retries. */
export class AuditDeliveryError extends ReaperError {}

/**
 * The pass ran, but kills in it failed (the server refused them, the connection dropped): the sessions
 * are still there. Carries which kills failed and why, as the run summary event does.
 */
export class KillsFailedError extends ReaperError {
  readonly runId: string;
  readonly cluster: string;
  /** How many kills failed in all. */
  readonly failed: number;
  /** Grouped by error, largest first (src/pass/kill-failures.ts): a bounded overview. */
  readonly failures: readonly KillFailureGroup[];

  constructor(message: string, details: { runId: string; cluster: string; failed: number; failures: readonly KillFailureGroup[] }, options?: { cause?: unknown }) {
    super(message, options);
    this.runId = details.runId;
    this.cluster = details.cluster;
    this.failed = details.failed;
    this.failures = details.failures;
  }
}

/**
 * A trigger payload (scheduled input, alarm event, webhook body, manual request) that does not
 * validate: nothing is read from or killed on any cluster. Names the field and what it accepts.
 */
export class InvalidTriggerError extends ReaperError {}

/** Another pass for the same cluster holds the lease: this one did not start. */
export class PassInProgressError extends ReaperError {
  constructor(readonly cluster: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A secret (connection string, webhook key) could not be fetched or read. Never carries the value. */
export class SecretError extends ReaperError {}

/** A pass could not be handed to the reaper function (Lambda Invoke failed). */
export class DispatchError extends ReaperError {}

/** The state table (DynamoDB: alert replay records) could not be read or written. */
export class StateStoreError extends ReaperError {}

/**
 * A snapshot file that cannot be used for decisions: not gzip, cut short, a line that is not JSON, a
 * section missing or incomplete, a format version this reader does not know. Names the file and the line
 * or section, and the snapshot is left out of the backtest (the summary counts it).
 */
export class SnapshotError extends ReaperError {}
