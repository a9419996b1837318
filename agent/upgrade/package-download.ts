/**
 * Fetches a package from Fusion with the agent's own credential and checks it
 * against the sha256 Fusion recorded at upload, before a single byte of it is
 * unpacked. A package that differs by one bit is refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { CONTROL_PACKAGES_PATH } from '../../shared/package/agent-package.js';
import { UpgradeError } from './upgrade-error.js';

/** An answer to a GET: any HTTP status with its whole body. */
export interface PackageResponse {
  status: number;
  body: Buffer;
}

/**
 * How the agent GETs from its control plane (its Bearer token, agent id header
 * and TLS settings are the getter's business). Rejects when no answer came
 * within `timeoutMs` or the body is larger than `maxBodyBytes`.
 */
export type PackageGetter = (url: string, limits: { timeoutMs: number; maxBodyBytes: number }) => Promise<PackageResponse>;

export interface DownloadRequest {
  get: PackageGetter;
  /** Fusion's base URL (http(s) or ws(s), with any path prefix). */
  controlPlaneUri: string;
  version: string;
  /** Expected sha256, 64 hex digits. */
  sha256: string;
  /** Largest package accepted, in bytes. */
  maxBytes: number;
  /** Time allowed for the whole download. */
  timeoutMs: number;
}

/** URL of package `version` under Fusion's base URL. */
export function packageUrl(base: string, version: string): string {
  const url = new URL(base);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  if (url.protocol === 'wss:') url.protocol = 'https:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${CONTROL_PACKAGES_PATH}/${encodeURIComponent(version)}`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** Downloads and verifies a package; resolves with its bytes or rejects with an {@link UpgradeError}. */
export async function downloadPackage(request: DownloadRequest): Promise<Buffer> {
  const { version } = request;
  let response: PackageResponse;
  try {
    response = await request.get(packageUrl(request.controlPlaneUri, version), { timeoutMs: request.timeoutMs, maxBodyBytes: request.maxBytes });
  } catch (err) {
    throw new UpgradeError('download_failed', `cannot download package ${version}: ${describe(err)}`);
  }
  if (response.status !== 200) {
    const detail = errorMessage(response.body);
    throw new UpgradeError('download_failed', `cannot download package ${version}: HTTP ${response.status}${detail ? ` (${detail})` : ''}`);
  }
  const actual = createHash('sha256').update(response.body).digest();
  const expected = Buffer.from(request.sha256, 'hex');
  if (expected.length !== actual.length || !timingSafeEqual(actual, expected)) {
    throw new UpgradeError(
      'sha256_mismatch',
      `package ${version} does not match the sha256 Fusion recorded (expected ${request.sha256}, got ${actual.toString('hex')}); not installed`,
    );
  }
  return response.body;
}

function errorMessage(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { message?: unknown } };
    return typeof parsed.error?.message === 'string' ? parsed.error.message : undefined;
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error && cause.message !== err.message ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
