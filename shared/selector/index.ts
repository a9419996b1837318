export * from './labels.js';
export * from './selector.js';
