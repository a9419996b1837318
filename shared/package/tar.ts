/**
 * A small reader and writer of gzipped ustar archives (what `npm pack` and
 * `tar -czf` produce), enough for agent packages: regular files and
 * directories only. The reader refuses anything that could write outside the
 * directory it is unpacked into (absolute paths, `..`, links, devices), so an
 * archive can be unpacked by joining its paths under a target directory.
 */
import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';

/** One member of an archive. `path` is relative, "/"-separated, without "." or ".." parts. */
export type TarEntry =
  | { type: 'file'; path: string; mode: number; data: Buffer }
  | { type: 'dir'; path: string; mode: number };

/** An archive that cannot be read or contains a member that is not allowed. */
export class TarError extends Error {
  readonly code = 'invalid_archive';
  constructor(message: string) {
    super(message);
    this.name = 'TarError';
  }
}

export interface TarLimits {
  /** Largest total size of the files' contents in bytes (default 512 MiB). */
  maxBytes?: number;
  /** Most members (default 10,000). */
  maxEntries?: number;
}

const BLOCK = 512;

/** Reads a gzipped tar archive. Throws {@link TarError} on anything malformed or not allowed. */
export function readTarGz(archive: Buffer, limits: TarLimits = {}): TarEntry[] {
  const { maxBytes, maxEntries } = limitsOf(limits);
  let tar: Buffer;
  try {
    tar = gunzipSync(archive, { maxOutputLength: maxTarBytes(maxBytes, maxEntries) });
  } catch (err) {
    throw new TarError(`not a gzip archive or larger than allowed: ${(err as Error).message}`);
  }
  return readTar(tar, maxEntries, maxBytes);
}

/**
 * Reads a gzipped tar archive without blocking the event loop: it is
 * unpacked as a stream (on libuv's thread pool) and abandoned as soon as the
 * unpacked bytes pass the limit, so a small archive that unpacks to
 * gigabytes (a gzip bomb) costs only as much work as the limit allows.
 * Rejects with {@link TarError}.
 */
export async function readTarGzStreamed(archive: Buffer, limits: TarLimits = {}): Promise<TarEntry[]> {
  const { maxBytes, maxEntries } = limitsOf(limits);
  const maxTar = maxTarBytes(maxBytes, maxEntries);
  const tar = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const gunzip = createGunzip();
    gunzip.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxTar) {
        gunzip.destroy();
        reject(new TarError(`the archive unpacks to more than ${maxTar} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    gunzip.on('error', (err) => reject(new TarError(`not a gzip archive: ${err.message}`)));
    gunzip.on('end', () => resolve(Buffer.concat(chunks, total)));
    gunzip.end(archive);
  });
  return readTar(tar, maxEntries, maxBytes);
}

function limitsOf(limits: TarLimits): { maxBytes: number; maxEntries: number } {
  return { maxBytes: limits.maxBytes ?? 512 * 1024 * 1024, maxEntries: limits.maxEntries ?? 10_000 };
}

/** Room for the contents, and for two header blocks and padding per member. */
function maxTarBytes(maxBytes: number, maxEntries: number): number {
  return maxBytes + (maxEntries * 3 + 2) * BLOCK;
}

function readTar(tar: Buffer, maxEntries: number, maxBytes: number): TarEntry[] {
  const entries: TarEntry[] = [];
  const layout = new Layout();
  let offset = 0;
  let total = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    verifyChecksum(header, offset);
    const size = octal(header, 124, 12, 'size');
    const typeFlag = String.fromCharCode(header[156] ?? 0);
    const dataStart = offset + BLOCK;
    if (dataStart + size > tar.length) throw new TarError(`member at byte ${offset} is truncated`);
    const data = tar.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeFlag === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (typeFlag === 'L') {
      longName = data.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (typeFlag === 'g') continue;
    const name = longName ?? headerName(header);
    longName = undefined;
    const mode = octal(header, 100, 8, 'mode') & 0o777;
    if (entries.length >= maxEntries) throw new TarError(`more than ${maxEntries} members`);
    if (typeFlag === '0' || typeFlag === '\0' || typeFlag === '7') {
      total += size;
      if (total > maxBytes) throw new TarError(`the files hold more than ${maxBytes} bytes`);
      const path = layout.add(safePath(name), 'file');
      entries.push({ type: 'file', path, mode, data: Buffer.from(data) });
    } else if (typeFlag === '5') {
      const path = layout.add(safePath(name.replace(/\/+$/, '')), 'dir');
      entries.push({ type: 'dir', path, mode });
    } else {
      throw new TarError(`member "${name}" is a ${describeType(typeFlag)}; only files and directories are allowed`);
    }
  }
  return entries;
}

/**
 * What each path of an archive is, so that no path is both a file and a
 * directory (`a` a file and `a/b` a member), and no file appears twice:
 * unpacking such an archive would fail half-way or depend on member order.
 * A directory listed twice is harmless and allowed.
 */
class Layout {
  private readonly kinds = new Map<string, 'file' | 'dir'>();

  add(path: string, kind: 'file' | 'dir'): string {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (this.kinds.get(parent) === 'file') throw new TarError(`member "${path}" is inside "${parent}", which is a file`);
      this.kinds.set(parent, 'dir');
    }
    const known = this.kinds.get(path);
    if (known === 'dir' && kind === 'file') throw new TarError(`member "${path}" is a file, and also a directory in the archive`);
    if (known === 'file') throw new TarError(kind === 'file' ? `file "${path}" appears twice` : `member "${path}" is a directory, and also a file in the archive`);
    this.kinds.set(path, kind);
    return path;
  }
}

/** Writes a gzipped ustar archive. Modification times are fixed, so the same entries give the same bytes. */
export function writeTarGz(entries: readonly TarEntry[], mtimeSeconds = 0): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const path = safePath(entry.path);
    const name = entry.type === 'dir' ? `${path}/` : path;
    const data = entry.type === 'file' ? entry.data : Buffer.alloc(0);
    blocks.push(header(name, entry.mode, data.length, entry.type === 'dir' ? '5' : '0', mtimeSeconds));
    if (data.length > 0) {
      blocks.push(data);
      const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (pad > 0) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(BLOCK * 2));
  return gzipSync(Buffer.concat(blocks), { level: 9 });
}

function header(name: string, mode: number, size: number, typeFlag: string, mtime: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length <= 100) bytes.copy(block, 0);
  else {
    // ustar splits a long name at a "/" into prefix (155 bytes) and name (100 bytes).
    const cut = name.lastIndexOf('/', 155);
    const prefix = Buffer.from(name.slice(0, cut), 'utf8');
    const rest = Buffer.from(name.slice(cut + 1), 'utf8');
    if (cut <= 0 || prefix.length > 155 || rest.length > 100) throw new TarError(`path too long for ustar: ${name}`);
    rest.copy(block, 0);
    prefix.copy(block, 345);
  }
  writeOctal(block, 100, 8, mode & 0o777);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, mtime);
  block.fill(0x20, 148, 156);
  block.write(typeFlag, 156, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  const sum = block.reduce((total, byte) => total + byte, 0);
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function writeOctal(block: Buffer, at: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, at, 'latin1');
}

function verifyChecksum(header: Buffer, offset: number): void {
  const stored = octal(header, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  if (sum !== stored) throw new TarError(`bad header checksum at byte ${offset}`);
}

function octal(block: Buffer, at: number, length: number, field: string): number {
  const text = block.toString('latin1', at, at + length).replace(/[\0 ]+$/, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`header field ${field} is not an octal number`);
  return parseInt(text, 8);
}

function headerName(block: Buffer): string {
  const name = cString(block, 0, 100);
  const magic = block.toString('latin1', 257, 262);
  const prefix = magic === 'ustar' ? cString(block, 345, 155) : '';
  return prefix ? `${prefix}/${name}` : name;
}

function cString(block: Buffer, at: number, length: number): string {
  const slice = block.subarray(at, at + length);
  const end = slice.indexOf(0);
  return slice.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** The `path` record of a pax extended header, if it has one. */
function paxPath(data: Buffer): string | undefined {
  let found: string | undefined;
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number(data.toString('latin1', offset, space));
    if (!Number.isInteger(length) || length <= 0) throw new TarError('malformed pax header');
    const record = data.toString('utf8', space + 1, offset + length - 1);
    const eq = record.indexOf('=');
    if (eq > 0 && record.slice(0, eq) === 'path') found = record.slice(eq + 1);
    offset += length;
  }
  return found;
}

/** Normalises a member path and refuses one that could leave the unpack directory. */
function safePath(name: string): string {
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (name.startsWith('/') || name.includes('\\') || name.includes('\0') || parts.length === 0 || parts.includes('..')) {
    throw new TarError(`member path "${name}" is not allowed`);
  }
  return parts.join('/');
}

function describeType(flag: string): string {
  const names: Record<string, string> = { '1': 'hard link', '2': 'symbolic link', '3': 'character device', '4': 'block device', '6': 'FIFO' };
  return names[flag] ?? `member of type "${flag}"`;
}
