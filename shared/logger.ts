import pino, { type Logger, type LevelWithSilent } from 'pino';
import type { LogTail } from './log-tail.js';

export type { Logger };

/**
 * Paths pino blanks in every log line, so tokens and keys never reach a log:
 * headers, credentials, tokens and API keys wherever they appear one level deep.
 */
export const REDACT_PATHS = [
  'authorization',
  'token',
  'auth_token',
  'credential',
  'api_key',
  'key',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  '*.authorization',
  '*.token',
  '*.auth_token',
  '*.credential',
  '*.api_key',
  '*.secret',
];

/** The project's logger: JSON lines on stderr-free stdout, secrets redacted; pretty output is left to `pino-pretty` if an operator pipes into it. */
export function createLogger(
  name: string,
  level: LevelWithSilent = (process.env.FUSTOR_LOG_LEVEL as LevelWithSilent) ?? 'info',
  tail?: LogTail,
): Logger {
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (!tail) return pino(options);
  // Every level goes to both; the logger's own level decides what is written at all.
  return pino(options, pino.multistream([{ stream: process.stdout, level: 'trace' }, { stream: tail, level: 'trace' }]));
}
