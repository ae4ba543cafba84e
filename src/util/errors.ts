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

/**
 * A snapshot file that cannot be used for decisions: not gzip, cut short, a line that is not JSON, a
 * section missing or incomplete, a format version this reader does not know. Names the file and the line
 * or section, and the snapshot is left out of the backtest (the summary counts it).
 */
export class SnapshotError extends ReaperError {}
