/** The embedded API. */
export * from './kernel/index.js';
export * from './domain/index.js';
export * from './runtime/index.js';
export { EVENT_PAGE, EventLog } from './log/index.js';
export { partitionOf, hashId } from './partition/index.js';
