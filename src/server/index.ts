/** The HTTP server: fastify app, WebSocket feed, dashboard. `main.ts` is the `npm start` entry; `runServer` is what it runs. */
export { buildServer, type ServerOptions, type ServerPlugin } from './app.js';
export { ERROR_STATUS, DOMAIN_STATUS, statusOfCode, errorReply } from './error-status.js';
export { FEED_CLOSE, type FeedFilter } from './feed/client.js';
export type { FeedOptions } from './feed/hub.js';
export { envelopeJson, type EnvelopeJson } from './envelope-json.js';
export { SECURITY_DEFAULTS, principalOf, type Principal, type SecurityOptions, type TokenConfig } from './security/index.js';
export { runServer, domainsFromEnv, type RunningServer } from './run-server.js';
export { logStartFailure } from './logger.js';
