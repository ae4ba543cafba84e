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
