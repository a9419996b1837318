import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/**
 * The address a request really comes from. `X-Forwarded-For` is honoured
 * only when the connection comes from a configured trusted proxy (an address
 * or a CIDR range); then the right-most hop that is not itself a trusted
 * proxy is the client. Anyone else sending the header is ignored, so a client
 * cannot pick the address its failures are counted against.
 */
export class ClientAddress {
  private readonly proxies = new BlockList();
  private readonly any: boolean;

  /** `trusted`: addresses ("10.0.0.5") and ranges ("10.0.0.0/8", "fd00::/8"). Throws on a malformed entry. */
  constructor(trusted: readonly string[] = []) {
    for (const entry of trusted) {
      const [address, bits] = entry.trim().split('/');
      const family = isIP(address ?? '');
      if (!address || family === 0) throw new Error(`trusted proxy "${entry}" is not an IP address or CIDR range`);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.proxies.addAddress(address, type);
      else {
        const prefix = Number(bits);
        if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) throw new Error(`trusted proxy "${entry}" has a bad prefix length`);
        this.proxies.addSubnet(address, prefix, type);
      }
    }
    this.any = trusted.length > 0;
  }

  of(req: IncomingMessage): string {
    const peer = normalise(req.socket.remoteAddress ?? 'unknown');
    if (!this.any || !this.trusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((h) => normalise(h.trim())).filter((h) => h !== '');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (isIP(hop) === 0) return peer;
      if (!this.trusted(hop)) return hop;
    }
    return hops[0] ?? peer;
  }

  private trusted(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.proxies.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** IPv4 peers of a dual-stack socket appear as `::ffff:a.b.c.d`. */
function normalise(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
