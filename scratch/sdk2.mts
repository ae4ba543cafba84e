import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
const child = spawn(process.execPath, ['--import', 'tsx', 'scratch/resp.mts'], { stdio: ['ignore', 'pipe', 'inherit'] });
const [endpoint] = await once(createInterface({ input: child.stdout! }), 'line') as [string];
const c = new EventBridgeClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const detail = JSON.stringify({ schemaVersion: '1.0', kind: 'decision', runId: 'x'.repeat(36), facts: { a: 1 }, session: { id: 'y'.repeat(36), uid: 'f'.repeat(64), user: 'app@admin' }, reason: 'z'.repeat(80) });
const entries = Array.from({ length: 10 }, () => ({ Source: 'mongodb.session-reaper', DetailType: 'Session Killed', Detail: detail, EventBusName: 'b', Time: new Date() }));
await c.send(new PutEventsCommand({ Entries: entries }));
for (const conc of [1, 16]) {
  const cpu0 = process.cpuUsage(); const t0 = performance.now(); let i = 0;
  await Promise.all(Array.from({ length: conc }, async () => { while (i < 1000) { i++; await c.send(new PutEventsCommand({ Entries: entries })); } }));
  const cpu = process.cpuUsage(cpu0);
  console.log('concurrency', conc, (performance.now() - t0).toFixed(0), 'ms wall,', ((cpu.user + cpu.system) / 1000).toFixed(0), 'ms cpu for 1000 calls');
}
child.kill();
