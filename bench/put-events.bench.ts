/**
 * `npm run bench:put-events`: what one pass's audit costs the reaper's main thread, by PutEvents transport.
 * The EventBridge sink publishes a pass's worth of decision events (210 by default: a 2,000-session pass of
 * the fleet case, bench/fleet.ts) to a local PutEvents responder in another process, through the SDK's
 * stack (sdkPutEvents) and through the signed request (signedPutEvents, the default; put-events-transport.ts),
 * the two alternating, and reports the main thread's CPU per publish and per request (medians).
 *
 *   npm run bench:put-events
 *   npm run bench:put-events -- --events 1000 --rounds 40
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createEventBridgeClient, EventBridgeAuditSink } from '../src/adapters/eventbridge.ts';
import { sdkPutEvents, signedPutEvents } from '../src/adapters/put-events-transport.ts';
import { formatTable } from '../src/util/table.ts';
import { fleetDecisionEvents } from './decision-events.ts';
import { startPutEventsResponder } from './putevents-responder.ts';
import { mainThreadCpuMs } from './thread-cpu.ts';

const { values } = parseArgs({ options: { responder: { type: 'boolean' }, events: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' } } });
if (values.responder) {
  // The child: the responder alone, so its CPU is not counted as the sink's.
  const r = await startPutEventsResponder();
  process.stdout.write(`${r.endpoint}\n`);
} else {
  const EVENTS = Number(values.events ?? 210);
  const ROUNDS = Number(values.rounds ?? 30);
  const OUT = values.out ?? fileURLToPath(new URL('./put-events.json', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--responder'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [endpoint] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  try {
    const client = createEventBridgeClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
    const events = fleetDecisionEvents(EVENTS);
    const transports = { sdk: sdkPutEvents(client), signed: signedPutEvents(client) };
    const sinks = Object.fromEntries(Object.entries(transports).map(([k, transport]) => [k, new EventBridgeAuditSink({ client, eventBusName: 'bench', transport })])) as Record<keyof typeof transports, EventBridgeAuditSink>;
    const cpu: Record<string, number[]> = { sdk: [], signed: [] };
    let calls = 0;
    for (let round = -3; round < ROUNDS; round++) {
      for (const name of ['sdk', 'signed'] as const) {
        // Several publishes per sample: /proc counts CPU in clock ticks (10 ms at the usual 100 Hz).
        const c0 = mainThreadCpuMs();
        for (let k = 0; k < 5; k++) {
          const r = await sinks[name].publish(events, { deadlineMs: Date.now() + 60_000 });
          if (r.failed.length > 0) throw new Error(`${name}: ${r.failed.length} events not delivered: ${r.failed[0]!.error}`);
          calls = r.calls;
        }
        if (round >= 0) cpu[name]!.push((mainThreadCpuMs() - c0) / 5);
      }
    }
    client.destroy();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const rows = (['sdk', 'signed'] as const).map((name) => ({ name, publish: median(cpu[name]!), request: median(cpu[name]!) / calls }));
    console.log(formatTable(rows, [
      { header: 'TRANSPORT', value: (r) => (r.name === 'sdk' ? 'sdkPutEvents (client.send)' : 'signedPutEvents (default)') },
      { header: 'CPU PER PUBLISH ms', value: (r) => r.publish.toFixed(1) },
      { header: 'CPU PER REQUEST ms', value: (r) => r.request.toFixed(3) },
      { header: 'VS SDK', value: (r) => `${(r.publish / rows[0]!.publish).toFixed(2)}x` },
    ]));
    console.log(`(${EVENTS} events a publish, ${calls} PutEvents requests; main-thread CPU, medians of ${ROUNDS} rounds of 5 publishes, the transports alternating; load ${loadavg()[0]!.toFixed(2)})`);
    writeFileSync(OUT, `${JSON.stringify({ node: process.version, events: EVENTS, requests: calls, rounds: ROUNDS, loadAverageAtEnd: loadavg()[0], cpuMsPerPublish: Object.fromEntries(rows.map((r) => [r.name, r.publish])) }, null, 2)}\n`);
    console.log(`written ${OUT}`);
  } finally {
    child.kill('SIGTERM');
  }
}
