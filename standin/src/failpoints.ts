/**
 * Fail points, through the server's own test interface:
 *   { configureFailPoint: "failCommand", mode: "alwaysOn" | "off" | {times: N} | {skip: N},
 *     data: { failCommands: [...], errorCode, closeConnection, blockConnection, blockTimeMS, errorLabels, appName } }
 *
 * Semantics from mongodb/mongo `src/mongo/util/fail_point.cpp` (modes; the reply is `{count: <times entered before>, ok: 1}`)
 * and `src/mongo/db/service_entry_point_common.cpp` / `src/mongo/db/commands.cpp` (`evaluateFailCommandFailPoint`:
 * only commands named in failCommands, only from the matching appName when set; blockConnection sleeps
 * blockTimeMS first; then closeConnection closes the socket, or errorCode fails the command with errorLabels).
 * Internal commands (hello, isMaster, configureFailPoint, saslStart...) are never failed, as in
 * `CommandHelpers::shouldActivateFailCommandFailPoint`, which exempts the fail point command and the handshake.
 */
import type { Document } from 'bson';
import { CommandError } from './errors.ts';
import { isDoc, isNumber, toNumber } from './idl.ts';

export interface FailCommandAction {
  blockTimeMS: number;
  closeConnection: boolean;
  error: { code: number; codeName: string; errorLabels: string[] } | null;
}

interface Active {
  mode: 'alwaysOn' | 'times' | 'skip';
  remaining: number;
  data: Document;
  timesEntered: number;
}

const EXEMPT = new Set(['hello', 'isMaster', 'ismaster', 'configureFailPoint', 'saslStart', 'saslContinue', 'authenticate', 'ping', 'buildInfo']);

/** Known fail point names; others get the server's "FailPoint not found" error. */
const KNOWN = new Set(['failCommand', 'hangAfterInitializingIndexBuild', 'hangWhileBuildingDocumentSourceOutBatch', 'hangWhileBuildingDocumentSourceMergeBatch']);

export class FailPoints {
  private readonly active = new Map<string, Active>();
  private readonly counts = new Map<string, number>();

  configure(cmd: Document): Document {
    const name = cmd.configureFailPoint;
    if (typeof name !== 'string' || !KNOWN.has(name)) {
      throw new CommandError(2, 'BadValue', `FailPoint not found: ${String(name)}`);
    }
    const mode = cmd.mode;
    const previous = this.counts.get(name) ?? 0;
    const data = isDoc(cmd.data) ? cmd.data : {};
    if (mode === 'off') {
      this.active.delete(name);
    } else if (mode === 'alwaysOn') {
      this.active.set(name, { mode: 'alwaysOn', remaining: Infinity, data, timesEntered: 0 });
    } else if (isDoc(mode) && (isNumber(mode.times) || isNumber(mode.skip))) {
      const times = isNumber(mode.times);
      const n = toNumber(times ? mode.times : mode.skip);
      if (!Number.isInteger(n) || n < 0) throw new CommandError(2, 'BadValue', `'${times ? 'times' : 'skip'}' must be a non-negative integer`);
      if (times && n === 0) this.active.delete(name);
      else this.active.set(name, { mode: times ? 'times' : 'skip', remaining: n, data, timesEntered: 0 });
    } else {
      throw new CommandError(9, 'FailedToParse', "'mode' must be one of 'off', 'alwaysOn', {times: <n>} or {skip: <n>}");
    }
    return { count: previous, ok: 1 };
  }

  /** Whether a fail point without per-command data (hangAfterInitializingIndexBuild) is on now. */
  isOn(name: string): boolean {
    return this.active.has(name);
  }

  /** One pass through a hang fail point: whether it holds this time ({skip: n} lets n through, {times: n} holds n). */
  enter(name: string): boolean {
    const fp = this.active.get(name);
    if (!fp) return false;
    if (fp.mode === 'skip' && fp.remaining > 0) {
      fp.remaining--;
      return false;
    }
    if (fp.mode === 'times' && --fp.remaining <= 0) {
      // Holds this once more; the hold ends when the fail point is turned off.
      fp.remaining = 0;
    }
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    return true;
  }

  /** What the failCommand fail point does to this command, if anything (and counts the hit). */
  evaluate(commandName: string, appName: string): FailCommandAction | null {
    const fp = this.active.get('failCommand');
    if (!fp || EXEMPT.has(commandName)) return null;
    const names = Array.isArray(fp.data.failCommands) ? fp.data.failCommands : [];
    if (!names.includes(commandName)) return null;
    if (typeof fp.data.appName === 'string' && fp.data.appName !== appName) return null;
    if (fp.mode === 'skip' && fp.remaining > 0) {
      fp.remaining--;
      return null;
    }
    if (fp.mode === 'times') {
      fp.remaining--;
      if (fp.remaining <= 0) this.active.delete('failCommand');
    }
    this.counts.set('failCommand', (this.counts.get('failCommand') ?? 0) + 1);
    const d = fp.data;
    const code = isNumber(d.errorCode) ? toNumber(d.errorCode) : 0;
    return {
      blockTimeMS: d.blockConnection === true && isNumber(d.blockTimeMS) ? toNumber(d.blockTimeMS) : 0,
      closeConnection: d.closeConnection === true,
      error: code
        ? { code, codeName: codeNameFor(code), errorLabels: Array.isArray(d.errorLabels) ? d.errorLabels.map(String) : [] }
        : null,
    };
  }
}

/** Code names for the error codes tests commonly inject (src/mongo/base/error_codes.yml). */
const CODE_NAMES: Record<number, string> = {
  1: 'InternalError', 2: 'BadValue', 6: 'HostUnreachable', 7: 'HostNotFound', 11: 'UserNotFound', 13: 'Unauthorized',
  18: 'AuthenticationFailed', 50: 'MaxTimeMSExpired', 89: 'NetworkTimeout', 91: 'ShutdownInProgress', 112: 'WriteConflict',
  189: 'PrimarySteppedDown', 251: 'NoSuchTransaction', 262: 'ExceededTimeLimit', 9001: 'SocketException',
  10107: 'NotWritablePrimary', 11600: 'InterruptedAtShutdown', 11601: 'Interrupted', 11602: 'InterruptedDueToReplStateChange',
  13435: 'NotPrimaryNoSecondaryOk', 13436: 'NotPrimaryOrSecondary', 43: 'CursorNotFound', 46: 'LockBusy',
};

export function codeNameFor(code: number): string {
  return CODE_NAMES[code] ?? `Location${code}`;
}
