/**
 * Which server answered and what it is: the hello reply of the member the reaper's commands go to, and its
 * host:port. A snapshot names its sections by that member. The address is the one the driver reports for
 * the hello command (command monitoring's `address`), so a standalone or a mongos, whose hello names no
 * `me`, is still named as the connection reached it.
 */
import type { CommandStartedEvent, Document, MongoClient } from 'mongodb';

export interface ServerDescription {
  /** host:port: hello.me when the server names itself, else the address the driver sent hello to. */
  name: string;
  kind: 'standalone' | 'replicaSet' | 'mongos';
  setName?: string;
  hosts?: string[];
  /** The hello fields that describe the member's role (no $clusterTime, no SASL mechanisms, no speculative auth). */
  hello: Record<string, unknown>;
}

/** hello fields (src/mongo/db/repl/hello.idl) that say what the member is; the rest is connection state. */
const ROLE_FIELDS = [
  'isWritablePrimary', 'secondary', 'arbiterOnly', 'hidden', 'passive', 'setName', 'setVersion', 'hosts', 'passives',
  'arbiters', 'primary', 'me', 'msg', 'minWireVersion', 'maxWireVersion', 'logicalSessionTimeoutMinutes', 'localTime', 'readOnly',
] as const;

function plain(v: unknown): unknown {
  return v instanceof Date ? v.toISOString() : v;
}

export async function describeServer(client: MongoClient): Promise<ServerDescription> {
  let address = '';
  const onStarted = (e: CommandStartedEvent): void => {
    if (!address && e.commandName === 'hello') address = e.address;
  };
  client.on('commandStarted', onStarted);
  let reply: Document;
  try {
    reply = await client.db('admin').command({ hello: 1 });
  } finally {
    client.off('commandStarted', onStarted);
  }
  const hello: Record<string, unknown> = {};
  for (const f of ROLE_FIELDS) if (reply[f] !== undefined) hello[f] = plain(reply[f]);
  const kind = reply.msg === 'isdbgrid' ? 'mongos' : typeof reply.setName === 'string' ? 'replicaSet' : 'standalone';
  const name = typeof reply.me === 'string' ? reply.me : address || client.options.hosts.map(String)[0] || 'unknown';
  return {
    name, kind, hello,
    ...(typeof reply.setName === 'string' ? { setName: reply.setName } : {}),
    ...(Array.isArray(reply.hosts) ? { hosts: reply.hosts.map(String) } : {}),
  };
}
