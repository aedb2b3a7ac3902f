export * from './types.js';
export { accountDecider, type AccountState, type AccountCommand, type AccountEvent } from './account.js';
export { videoDecider, FINAL_STATUSES, STATUS_AFTER, type VideoState, type VideoStatus, type VideoCommand, type VideoEvent, type Rendition, type VideoSource } from './video.js';
