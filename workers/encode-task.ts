/** Thin piscina task entry: one encode attempt per task (see src/video/encode-task.ts). */
import { runEncodeTask } from '../src/video/encode-task.js';

export default runEncodeTask;
