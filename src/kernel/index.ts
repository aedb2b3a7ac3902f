export * from './errors.js';
export * from './ids.js';
export * from './envelope.js';
export * from './clock.js';
export * from './position.js';
export * from './trace-spans.js';
