/** A command failure answered to the client as `{ ok: 0, errmsg, code, codeName }`, as mongod does. */
export class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    errmsg: string,
  ) {
    super(errmsg);
    this.name = 'CommandError';
  }
}

export function toErrorReply(e: CommandError): { ok: 0; errmsg: string; code: number; codeName: string } {
  return { ok: 0, errmsg: e.message, code: e.code, codeName: e.codeName };
}
