import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file (in Fusion's home, mode 0600) holding the key webhook signing secrets are derived from. */
export const WEBHOOK_KEY_FILE = 'webhook-signing.key';

/**
 * Signing secrets for webhooks. Nothing secret is stored in the database:
 * each webhook's secret is HMAC(home key, webhook id), so it can be shown to
 * the admin who creates the webhook (once) and recomputed to sign, and a
 * copy of the database alone cannot forge deliveries.
 */
export class WebhookSigning {
  private readonly key: Buffer;

  constructor(home: string) {
    const file = join(home, WEBHOOK_KEY_FILE);
    if (existsSync(file)) this.key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    else {
      this.key = randomBytes(32);
      writeFileSync(file, `${this.key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    }
    if (this.key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  }

  /** The secret a receiver verifies this webhook's deliveries with (`whsec_…`). */
  secretOf(webhookId: string): string {
    return `whsec_${createHmac('sha256', this.key).update(`webhook:${webhookId}`).digest('base64url')}`;
  }

  /** `sha256=<hex>` of `<timestamp>.<body>` under the webhook's secret (the X-Fustor-Signature header). */
  sign(webhookId: string, timestamp: number, body: string): string {
    return `sha256=${createHmac('sha256', this.secretOf(webhookId)).update(`${timestamp}.${body}`).digest('hex')}`;
  }
}
