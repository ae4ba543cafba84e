/**
 * `session-reaper mongod [--port N] [--host H] [--auth] [--user NAME:PASSWORD:ROLE[,ROLE...]]...
 *                        [--refresh-millis N] [--txn-lifetime-seconds N] [--max-sessions N] [--reply-latency-ms N]
 *                        [--replset NAME [--members N] [--hidden I]...]
 *                        [--shards K [--members N] [--routers R] [--shard-user NAME:PASSWORD:ROLE[,ROLE...]]...]`
 *
 * Prints the connection string as the first line of stdout once it accepts connections, logs one line per
 * connection, authentication and kill to stderr, and stops cleanly on SIGINT and SIGTERM.
 *
 * With --replset it starts a replica set of N members (default 3) on consecutive ports from --port (or free
 * ports with --port 0) and reads member commands from stdin, one a line: `stop I`, `start I`, `stepup I`
 * (I is the member's index, its _id in replSetGetConfig, 0 first) and `status`.
 *
 * With --shards it starts a sharded cluster (sharding/cluster.ts): R routers (default 1) over K shards, each a
 * replica set of N members (default 1); the first line is the routers' connection string mongodb://H:P1,H:P2/,
 * and stdin takes `stop router I`, `start router I`, `stop SHARD I`, `start SHARD I` (SHARD as shard0, I the
 * member) and `status`.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startStandin } from './server.ts';
import { startReplicaSet, type RunningReplicaSet } from './replset.ts';
import { startShardedCluster, type RunningShardedCluster } from './sharding/cluster.ts';
import type { MemberOptions } from './replication.ts';

export const MONGOD_USAGE = `usage: session-reaper mongod [--port N] [--host H] [--auth] [--user NAME:PASSWORD:ROLE[,ROLE...]]...
                             [--refresh-millis N] [--txn-lifetime-seconds N] [--max-sessions N] [--reply-latency-ms N]
                             [--replset NAME [--members N] [--hidden I]...]
                             [--shards K [--members N] [--routers R] [--shard-user NAME:PASSWORD:ROLE[,ROLE...]]...]
  --reply-latency-ms N   a simulated network: every reply leaves N ms after it is ready (benchmarks)
  --replset NAME   a replica set of --members N (default 3) on ports --port, --port+1, ... (0: free ports);
                   the first line is mongodb://H:P1,H:P2,.../?replicaSet=NAME
  --hidden I       member I (0 first) is hidden (priority 0, not in hello's hosts); repeatable
  --shards K       a sharded cluster: --routers R mongos (default 1) over K shards, each a replica set of
                   --members N (default 1) on ports from --port (default: free ports); the first line
                   is mongodb://H:P1,H:P2/ (the routers); --user makes cluster users (clients of the
                   routers), --shard-user shard-local users (direct connections to members)
  stdin (with --replset), one command a line: stop I | start I | stepup I | status
  stdin (with --shards): stop router I | start router I | stop SHARD I | start SHARD I | status`;

const CLUSTER_USAGE = 'cluster commands: stop router I | start router I | stop SHARD I | start SHARD I (SHARD as shard0, I = member index) | status';

/** Runs one stdin line against the cluster; returns the line to log. */
export async function clusterCommand(cluster: RunningShardedCluster, line: string): Promise<string> {
  const [verb, what, arg, ...rest] = line.trim().split(/\s+/);
  if (!verb) return '';
  const status = () => [
    ...cluster.routers.map((r) => `router ${r.index} ${r.host} ${r.up ? 'UP' : 'DOWN'}`),
    ...cluster.shards.flatMap((s) => s.set.members.map((m) => `${s.name} member ${m.index} ${m.host} ${m.state}`)),
  ].join('; ');
  if (verb === 'status' && what === undefined) return status();
  const i = Number(arg);
  if ((verb !== 'stop' && verb !== 'start') || what === undefined || rest.length || !Number.isInteger(i)) return `unknown command "${line.trim()}": ${CLUSTER_USAGE}`;
  try {
    if (what === 'router') {
      const r = cluster.routers[i];
      if (!r) return `no router ${arg}: the cluster has routers 0..${cluster.routers.length - 1}`;
      await (verb === 'stop' ? r.stop() : r.start());
      return `router ${i} ${r.host} ${r.up ? 'UP' : 'DOWN'}`;
    }
    const shard = cluster.config.shard(what);
    if (!shard) return `no shard ${what}: the shards are ${cluster.shards.map((s) => s.name).join(', ')}`;
    const m = shard.set.members[i];
    if (!m) return `no member ${arg} in ${what}: it has members 0..${shard.set.members.length - 1}`;
    await (verb === 'stop' ? m.stop() : m.start());
    return `${what} member ${i} ${m.host} ${m.state}`;
  } catch (e) {
    return `${verb} ${what} ${i} failed: ${(e as Error).message}`;
  }
}

const STDIN_USAGE = 'member commands: stop I | start I | stepup I | status (I = member index, 0 first)';

/** Runs one stdin line against the set; returns the line to log. */
export async function memberCommand(rs: RunningReplicaSet, line: string): Promise<string> {
  const [verb, arg, ...rest] = line.trim().split(/\s+/);
  if (!verb) return '';
  if (verb === 'status' && arg === undefined) {
    return rs.members.map((m) => `member ${m.index} ${m.host} ${m.state}`).join('; ');
  }
  const i = Number(arg);
  if (!['stop', 'start', 'stepup'].includes(verb) || rest.length || !Number.isInteger(i)) return `unknown command "${line.trim()}": ${STDIN_USAGE}`;
  const m = rs.members[i];
  if (!m) return `no member ${arg}: the set has members 0..${rs.members.length - 1}`;
  try {
    if (verb === 'stop') await m.stop();
    else if (verb === 'start') await m.start();
    else rs.stepUp(i);
  } catch (e) {
    return `${verb} ${i} failed: ${(e as Error).message}`;
  }
  return `member ${i} ${m.host} ${m.state}`;
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${v}"`);
  return n;
}

export async function runMongod(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' }, host: { type: 'string' }, auth: { type: 'boolean' }, user: { type: 'string', multiple: true },
        'refresh-millis': { type: 'string' }, 'txn-lifetime-seconds': { type: 'string' }, 'max-sessions': { type: 'string' }, 'reply-latency-ms': { type: 'string' }, help: { type: 'boolean' },
        replset: { type: 'string' }, members: { type: 'string' }, hidden: { type: 'string', multiple: true },
        shards: { type: 'string' }, routers: { type: 'string' }, 'shard-user': { type: 'string', multiple: true },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`session-reaper mongod: ${(e as Error).message}\n${MONGOD_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out.write(`${MONGOD_USAGE}\n`);
    return 0;
  }
  let standin: { uri: string; stop(): Promise<void> };
  let replicaSet: RunningReplicaSet | null = null;
  let cluster: RunningShardedCluster | null = null;
  const log = (line: string) => err.write(`${new Date().toISOString()} ${line}\n`);
  try {
    const users = values.user ?? [];
    if (values.auth && users.length === 0) {
      throw new Error('--auth needs at least one --user NAME:PASSWORD:ROLE (for example --user admin:secret:root), or clients cannot log in');
    }
    if (values.replset !== undefined && values.shards !== undefined) {
      throw new Error('--replset and --shards are two topologies: give one (the shards of --shards are replica sets of --members)');
    }
    if (values.shards === undefined && (values.routers !== undefined || values['shard-user'] !== undefined)) throw new Error('--routers and --shard-user describe a sharded cluster: add --shards K');
    if (values.shards !== undefined && values.hidden !== undefined) throw new Error('--hidden is for --replset: the shards of --shards have no hidden members');
    if (values.replset === undefined && values.shards === undefined && (values.members !== undefined || values.hidden !== undefined)) {
      throw new Error('--members and --hidden describe a replica set: add --replset NAME (or --shards K for a sharded cluster)');
    }
    const common = {
      host: values.host ?? '127.0.0.1',
      users,
      params: {
        auth: values.auth === true,
        ...(values['refresh-millis'] ? { logicalSessionRefreshMillis: positiveInt('refresh-millis', values['refresh-millis']) } : {}),
        ...(values['txn-lifetime-seconds'] ? { transactionLifetimeLimitSeconds: positiveInt('txn-lifetime-seconds', values['txn-lifetime-seconds']) } : {}),
        ...(values['max-sessions'] ? { maxSessions: positiveInt('max-sessions', values['max-sessions']) } : {}),
      },
      log,
      ...(values['reply-latency-ms'] ? { replyLatencyMs: positiveInt('reply-latency-ms', values['reply-latency-ms']) } : {}),
    };
    const port = positiveInt('port', values.port) ?? 27017;
    if (values.shards !== undefined) {
      const atLeastOne = (name: string, v: string | undefined, dflt: number) => {
        const n = positiveInt(name, v) ?? dflt;
        if (n < 1) throw new Error(`--${name} must be at least 1`);
        return n;
      };
      cluster = await startShardedCluster({
        ...common, port: values.port === undefined ? 0 : port,
        shardUsers: values['shard-user'] ?? [],
        shards: atLeastOne('shards', values.shards, 2), members: atLeastOne('members', values.members, 1), routers: atLeastOne('routers', values.routers, 1),
      });
      standin = cluster;
    } else if (values.replset !== undefined) {
      const n = positiveInt('members', values.members) ?? 3;
      if (n < 1) throw new Error('--members must be at least 1');
      const members: MemberOptions[] = Array.from({ length: n }, () => ({}));
      for (const h of values.hidden ?? []) {
        const i = positiveInt('hidden', h)!;
        if (i >= n) throw new Error(`--hidden ${h}: the set has members 0..${n - 1}`);
        members[i] = { hidden: true };
      }
      replicaSet = await startReplicaSet({ ...common, name: values.replset, members, port });
      standin = replicaSet;
    } else {
      standin = await startStandin({ ...common, port });
    }
  } catch (e) {
    err.write(`session-reaper mongod: ${(e as Error).message}\n`);
    return 1;
  }
  out.write(`${standin.uri}\n`);
  log(`stand-in mongod listening on ${standin.uri}${values.auth ? ' (auth on)' : ''}`);
  let commands: ReturnType<typeof createInterface> | null = null;
  const run = cluster
    ? { exec: (line: string) => clusterCommand(cluster!, line), usage: CLUSTER_USAGE }
    : replicaSet ? { exec: (line: string) => memberCommand(replicaSet!, line), usage: STDIN_USAGE } : null;
  if (run) {
    log(`${await run.exec('status')}; ${run.usage}`);
    // Commands run one after another, in the order given.
    let queue = Promise.resolve();
    commands = createInterface({ input: process.stdin });
    commands.on('line', (line) => {
      queue = queue.then(async () => {
        const said = await run.exec(line);
        if (said) log(said);
      });
    });
  }
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: shutting down`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  if (commands) {
    commands.close();
    process.stdin.destroy();
  }
  await standin.stop();
  return 0;
}
