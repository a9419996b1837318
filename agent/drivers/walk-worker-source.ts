/**
 * The synchronous walk, as plain JavaScript: run on a worker thread with
 * `new Worker(WALK_WORKER_SOURCE, { eval: true })`, or in the agent's own
 * thread for a small subtree (see inline-walk.ts) through the same code. It is
 * a string rather than a module because the agent ships as one bundled file,
 * where a worker module would have no file of its own to load.
 *
 * Synchronous calls (readdirSync, lstatSync) on a thread of their own are far
 * cheaper than the promise-per-call walk on the event loop; each batch is
 * encoded here as the JSON array the receiver takes, so the agent's event
 * loop only moves strings.
 *
 * `walkSync(options, out)`: options { root, start, recursive, batchSize,
 * dirs (collect every directory with its mtime), limit (most entries; past it
 * the walk throws TOO_MANY) }; out { batch(json, n), unreadable(path, reason),
 * stopped() (true ends the walk) }. Returns { counters, dirs }.
 */
const WALK_SOURCE = String.raw`
const fs = require('node:fs');
const STOP = new Error('stopped');
const TOO_MANY = new Error('too many entries');

function walkSync(options, out) {
  const { root, start, recursive, batchSize, dirs: wantDirs } = options;
  const limit = options.limit ?? Infinity;
  const counters = { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0, unreadable: 0, unreadableSamples: [] };
  const dirs = [];
  let parts = [];
  let seen = 0;
  const abs = (rel) => (rel === '' ? root : root + '/' + rel);

  function flush() {
    if (parts.length === 0) return;
    out.batch('[' + parts.join(',') + ']', parts.length);
    parts = [];
  }

  function emit(rel, st) {
    if (++seen > limit) throw TOO_MANY;
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
    out.unreadable(rel, reason);
  }

  let st;
  try {
    st = fs.lstatSync(abs(start));
  } catch (err) {
    // A start entry that is gone or unreadable fails the walk: taken for an empty tree, it would remove everything known below it.
    throw new Error('cannot read ' + (start === '' ? 'the source root' : '"' + start + '"') + ' (' + (err.code || err.message) + ')');
  }
  emit(start, st);
  const pending = st.isDirectory() ? [start] : [];
  while (pending.length > 0) {
    if (out.stopped()) throw STOP;
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
  flush();
  return { counters, dirs: wantDirs ? dirs : null };
}
`;

/** The walk as a function body: `new Function('require', WALK_FUNCTION_SOURCE)(require)` returns `{ walkSync, STOP, TOO_MANY }`. */
export const WALK_FUNCTION_SOURCE = `${WALK_SOURCE}\nreturn { walkSync, STOP, TOO_MANY };`;

/**
 * The worker. It waits for walks: each message { options, gate } runs one,
 * where `options` is { root, start, recursive, batchSize, dirs } and `gate`
 * a SharedArrayBuffer of two int32: [0] the batches it may post before the
 * consumer takes them (a credit the consumer returns per batch), [1] set to
 * stop at once. Messages: { t: 'batch', json, n }, { t: 'unreadable', path,
 * reason }, then { t: 'end', counters, dirs } or { t: 'fail', message } when
 * the walk is over (the worker is then ready for the next one), or nothing
 * when it was stopped.
 */
export const WALK_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
${WALK_SOURCE}

function run(options, gate) {
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
  try {
    const result = walkSync(options, {
      batch(json, n) {
        take();
        parentPort.postMessage({ t: 'batch', json, n });
      },
      unreadable(path, reason) {
        parentPort.postMessage({ t: 'unreadable', path, reason });
      },
      stopped: () => Atomics.load(gate, 1) !== 0,
    });
    parentPort.postMessage({ t: 'end', counters: result.counters, dirs: result.dirs });
  } catch (err) {
    if (err !== STOP) parentPort.postMessage({ t: 'fail', message: err.message });
  }
}

parentPort.on('message', (message) => run(message.options, new Int32Array(message.gate)));
`;
