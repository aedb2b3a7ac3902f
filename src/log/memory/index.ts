/** The memory adapter of the log port (memory-log.ts says what it is for, and what it is not). */
export { MemoryLog, openMemoryLog, type MemoryLogOptions } from './memory-log.js';
