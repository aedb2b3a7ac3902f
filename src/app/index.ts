/** The composition root for embedders: the runtime with its read models. */
export { createEventide, type Eventide, type EventideOptions } from './create-eventide.js';
