/** Re-exports of shared/ for tests, so test files import one place. */
export * from '../../shared/protocol/index.js';
export * from '../../shared/config/index.js';
