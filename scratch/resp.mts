import { startPutEventsResponder } from '../bench/putevents-responder.ts';
const r = await startPutEventsResponder(); console.log(r.endpoint);
