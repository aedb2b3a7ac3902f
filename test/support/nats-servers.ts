/**
 * Private nats-server processes for tests of the JetStream log and of cluster mode. The code lives
 * with `npm run cluster`, which starts the same servers for trying cluster mode by hand
 * (scripts/cluster/nats-processes.ts).
 */
export { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster, type NatsNode } from '../../scripts/cluster/nats-processes.js';
