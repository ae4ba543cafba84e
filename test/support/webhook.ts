/**
 * What the Atlas webhook tests share: the deployment the fixture alert maps onto, and the two function
 * modules loaded the way Lambda loads them (the reaper's handler behind the local Invoke endpoint).
 */
export function webhookTestEnv(o: { uri: string; auditFile: string; secret: string; lambdaEndpoint: string }): Record<string, string> {
  return {
    MONGODB_URI: o.uri, REAPER_CLUSTER: 'orders', REAPER_AUDIT: `file:${o.auditFile}`, DRY_RUN: 'true',
    REAPER_ATLAS_ALERTS: JSON.stringify({ 'OUTSIDE_METRIC_THRESHOLD/CONNECTIONS': 'strict' }),
    ATLAS_WEBHOOK_SECRET: o.secret, REAPER_FUNCTION_NAME: 'session-reaper', AWS_ENDPOINT_URL_LAMBDA: o.lambdaEndpoint,
  };
}

/** Imports functions/reaper.ts (its handler goes into `target`) and functions/atlas-webhook.ts. */
export async function loadReaperAndWebhook(target: { handler: unknown }): Promise<{
  webhook: (typeof import('../../functions/atlas-webhook.ts'))['handler'];
  closeReaper: () => Promise<void>;
}> {
  const reaper = await import('../../functions/reaper.ts');
  target.handler = reaper.handler;
  const { handler: webhook } = await import('../../functions/atlas-webhook.ts');
  return { webhook, closeReaper: reaper.close };
}
