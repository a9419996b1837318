export * from './schema.js';
export * from './drivers.js';
export * from './signature.js';
export * from './document-text.js';
export * from './validate.js';
export * from './patch.js';
export * from './secret-refs.js';
