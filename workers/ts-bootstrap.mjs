// Lets worker threads run TypeScript sources when the project runs from src/ (tests, tsx); the built
// package (dist/) starts its .js workers directly and never loads this file.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
