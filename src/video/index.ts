/** The video pipeline's public surface: uploads, the encode reactor and its pool, ffmpeg discovery. */
export { createVideoPipeline, ACCEPTED_UPLOAD_TYPE, DEFAULT_MAX_UPLOAD_BYTES, type VideoPipeline, type VideoPipelineOptions, type VideoPipelineStats, type UploadResult, type VideoListPage } from './pipeline.js';
export { resolveFfmpegBinaries, verifyFfmpegBinaries, type FfmpegBinaries, type FfmpegVersions } from './ffmpeg-binaries.js';
export { VideoStorage } from './storage.js';
export { DEFAULT_MAX_LOCAL_BYTES, DEFAULT_MIN_FREE_BYTES, localBlobs, openObjectStoreBlobs, videoBucketOf, type ObjectStoreOptions, type VideoBlobStore } from './blob-store.js';
export { planNext, silentLogger, OWNERSHIP_POLL_MS, type Plan, type VideoLogger, type VideoPlacement } from './reactor.js';
export { DEFAULT_LADDER, X264_PRESETS, type EncodeSettings, type X264Preset } from './media-policy.js';
