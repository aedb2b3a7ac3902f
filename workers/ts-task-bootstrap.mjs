// The piscina counterpart of ts-bootstrap.mjs: registers tsx, then re-exports the task function of the
// TypeScript entry named in workerData, so pools run from sources exactly as they do when built.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
const mod = await import(workerData.entry);
export default mod.default;
