// Runs a CommonJS bundle of dist/bin (Fusion's, from scripts/bundle-bins.ts)
// with V8's code cache written beside it at build time (`<bundle>.cache`).
// Compiling the bundle is the largest part of a start without the cache (V8
// pre-parses every function of a 3 MB file); with it V8 reads bytecode for
// what a start runs instead. Node 20's own loaders keep no such cache, so the
// bundle is compiled here with vm.Script, wrapped as Node wraps CommonJS.
//
// The cache is only used when it belongs to this very build: it starts with
// the build id the bundle's second line carries (V8 itself checks only its own
// version, flags and the source's length). A missing, stale or rejected cache
// (another Node version, other V8 flags) costs the time, never correctness.
import { isAscii } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

const BUILD_ID = /^\/\/ fustor-build ([0-9a-f]{32})$/m;

/** The cache file of a bundle: the build id, a newline, V8's cached data. */
export function cacheFileOf(file) {
  return `${file}.cache`;
}

/** The build id of a bundle's source (set by scripts/bundle-bins.ts), or undefined. */
export function buildIdOf(source) {
  return BUILD_ID.exec(source.slice(0, 200))?.[1];
}

/** The cached data for `source` from `cacheFile`, when the file is this build's. */
function readCache(cacheFile, source) {
  const id = buildIdOf(source);
  if (!id || !existsSync(cacheFile)) return undefined;
  const bytes = readFileSync(cacheFile);
  const header = Buffer.from(`${id}\n`);
  if (bytes.length <= header.length || !bytes.subarray(0, header.length).equals(header)) return undefined;
  return bytes.subarray(header.length);
}

/**
 * Compiles `file` (absolute) as a CommonJS module, with its code cache when it
 * has a valid one. Returns the script (for createCachedData) and `run()`,
 * which evaluates the module once.
 */
export function compileBundle(file, { useCache = true } = {}) {
  const bytes = readFileSync(file);
  // The build makes the bundle ASCII (scripts/lib/bundle-plugins.ts): a one-byte string, read and compiled faster.
  // The first line is the bundle's #! line: kept as an empty line so line numbers in stack traces stay true.
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8').replace(/^#![^\n]*/, '');
  const cachedData = useCache ? readCache(cacheFileOf(file), source) : undefined;
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapped, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  return {
    script,
    source,
    usedCache: Boolean(cachedData) && !script.cachedDataRejected,
    run() {
      const module = { exports: {}, filename: file, id: file, loaded: false };
      script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
      module.loaded = true;
      return module.exports;
    },
  };
}
