export { hashId, partitionOf, ownerOf, partitionsOwnedBy } from './partitioner.js';
