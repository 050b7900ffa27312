import { pino } from 'pino';
import type { Logger, DestinationStream } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths that never reach a log line: credentials in headers (as logged by any module), and
 * secrets in admin request/response bodies.
 */
export const REDACT_PATHS: readonly string[] = [
  'authorization', 'cookie', 'x-api-key', 'apikey', 'proxy-authorization',
  '*.authorization', '*.cookie', '*["x-api-key"]', '*.apikey', '*["proxy-authorization"]',
  'headers.authorization', 'headers.cookie', 'headers["x-api-key"]', 'headers["proxy-authorization"]',
  'secret', 'key', 'password', 'token', 'pepper',
  '*.secret', '*.key', '*.password', '*.token', '*.pepper', '*.secret_hash', 'secret_hash',
  'body.secret', 'body.key', 'body.password', 'body.credentials[*].secret', 'body.credentials[*].key',
];

/** The one root logger of a process; modules take `logger.child({ module })`. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'keygate' },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
