/**
 * The lifetime of one rendered view: subscriptions, timers and long-polls
 * register their cleanup here and end when the admin navigates away.
 */
export function createScope() {
  const cleanups = [];
  const scope = {
    closed: false,
    onCleanup(fn) {
      if (scope.closed) fn();
      else cleanups.push(fn);
    },
    /** Calls `fn` at most once per `ms`, trailing; cancelled on close. */
    debounce(fn, ms = 250) {
      let timer = null;
      scope.onCleanup(() => clearTimeout(timer));
      return () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          if (!scope.closed) fn();
        }, ms);
      };
    },
    /** Calls `fn` once, `ms` after the first call since it last ran (later calls meanwhile join it); cancelled on close. */
    throttle(fn, ms = 1000) {
      let timer = null;
      scope.onCleanup(() => clearTimeout(timer));
      return () => {
        if (timer !== null) return;
        timer = setTimeout(() => {
          timer = null;
          if (!scope.closed) fn();
        }, ms);
      };
    },
    every(fn, ms) {
      const timer = setInterval(() => {
        if (!scope.closed) fn();
      }, ms);
      scope.onCleanup(() => clearInterval(timer));
    },
    close() {
      scope.closed = true;
      for (const fn of cleanups.splice(0)) {
        try {
          fn();
        } catch (err) {
          console.error('cleanup failed', err);
        }
      }
    },
  };
  return scope;
}
