/**
 * The code of the walk worker, as plain JavaScript run with `new Worker(code,
 * { eval: true })`. It is a string rather than a module because the agent
 * ships as one bundled file, where a worker module would have no file of its
 * own to load.
 *
 * The worker walks with synchronous calls (readdirSync, lstatSync), which on
 * a thread of its own are far cheaper than the promise-per-call walk on the
 * event loop, and encodes each batch as the JSON array the receiver takes, so
 * the agent's event loop only moves strings. It may run `gate[0]` batches
 * ahead of the consumer (a credit the consumer returns per batch taken) and
 * stops at once when `gate[1]` is set.
 *
 * workerData: { root, start, recursive, batchSize, gate (SharedArrayBuffer of
 * two int32), dirs (collect every directory with its mtime) }.
 * Messages: { t: 'batch', json, n }, { t: 'unreadable', path, reason },
 * { t: 'end', counters, dirs }, { t: 'fail', message }.
 */
export const WALK_WORKER_SOURCE = String.raw`
'use strict';
const fs = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
const { root, start, recursive, batchSize, dirs: wantDirs } = workerData;
const gate = new Int32Array(workerData.gate);
const STOP = new Error('stopped');
const counters = { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0, unreadable: 0, unreadableSamples: [] };
const dirs = [];
let parts = [];

function take() {
  for (;;) {
    if (Atomics.load(gate, 1) !== 0) throw STOP;
    const credits = Atomics.load(gate, 0);
    if (credits > 0) {
      if (Atomics.compareExchange(gate, 0, credits, credits - 1) === credits) return;
      continue;
    }
    Atomics.wait(gate, 0, credits, 1000);
  }
}

function flush() {
  if (parts.length === 0) return;
  take();
  parentPort.postMessage({ t: 'batch', json: '[' + parts.join(',') + ']', n: parts.length });
  parts = [];
}

function emit(rel, st) {
  let type;
  let size = st.size;
  if (st.isFile()) {
    type = 'file';
    counters.files += 1;
    counters.bytes += size;
  } else if (st.isDirectory()) {
    type = 'dir';
    size = 0;
    counters.dirs += 1;
    if (wantDirs) dirs.push([rel, st.mtimeMs]);
  } else if (st.isSymbolicLink()) {
    type = 'symlink';
    counters.symlinks += 1;
  } else {
    type = 'other';
    counters.other += 1;
  }
  parts.push('{"op":"upsert","path":' + JSON.stringify(rel) + ',"type":"' + type + '","size":' + size + ',"mtime_ms":' + Math.floor(st.mtimeMs) + ',"mode":' + (st.mode & 4095) + '}');
  if (parts.length >= batchSize) flush();
}

function unreadable(rel, err) {
  counters.unreadable += 1;
  const reason = err.code || err.message;
  if (counters.unreadableSamples.length < 5) counters.unreadableSamples.push((rel || '/') + ': ' + reason);
  parentPort.postMessage({ t: 'unreadable', path: rel, reason });
}

function abs(rel) {
  return rel === '' ? root : root + '/' + rel;
}

function walk() {
  let st;
  try {
    st = fs.lstatSync(abs(start));
  } catch (err) {
    // A start entry that is gone or unreadable fails the walk: taken for an empty tree, it would remove everything known below it.
    throw new Error('cannot read ' + (start === '' ? 'the source root' : '"' + start + '"') + ' (' + (err.code || err.message) + ')');
  }
  emit(start, st);
  if (!st.isDirectory()) return;
  const pending = [start];
  while (pending.length > 0) {
    if (Atomics.load(gate, 1) !== 0) throw STOP;
    const dir = pending.pop();
    let names;
    try {
      names = fs.readdirSync(abs(dir));
    } catch (err) {
      if (err.code !== 'ENOENT') unreadable(dir, err);
      continue;
    }
    for (const name of names) {
      const rel = dir === '' ? name : dir + '/' + name;
      let child;
      try {
        child = fs.lstatSync(abs(rel), { throwIfNoEntry: false });
      } catch (err) {
        unreadable(rel, err);
        continue;
      }
      if (child === undefined) continue;
      emit(rel, child);
      if (recursive && child.isDirectory()) pending.push(rel);
    }
  }
}

try {
  walk();
  flush();
  parentPort.postMessage({ t: 'end', counters, dirs: wantDirs ? dirs : null });
} catch (err) {
  if (err !== STOP) parentPort.postMessage({ t: 'fail', message: err.message });
}
`;
