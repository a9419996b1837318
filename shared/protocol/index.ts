export * from './version.js';
export * from './codes.js';
export * from './common.js';
export * from './commands.js';
export * from './agent-frames.js';
export * from './fusion-frames.js';
export * from './codec.js';
export * from './polling.js';
