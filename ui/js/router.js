/**
 * Hash routes (`#/agents/node-1`), so the static server needs no rewrites.
 * A view is `render(container, params, ctx)` returning an optional cleanup
 * function, run when the next route renders. `guard` false (signed out) renders nothing.
 */
export function createRouter(routes, { container, ctx, notFound, guard }) {
  let cleanup = null;
  let generation = 0;

  function match(path) {
    for (const route of routes) {
      const names = [];
      const pattern = new RegExp(`^${route.path.replace(/:([a-z_]+)/g, (_, name) => (names.push(name), '([^/]+)'))}$`);
      const m = pattern.exec(path);
      if (m) return { route, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
    }
    return null;
  }

  async function render() {
    if (guard && !guard()) return;
    const current = ++generation;
    if (typeof cleanup === 'function') cleanup();
    cleanup = null;
    const path = location.hash.replace(/^#/, '') || '/fleet';
    const found = match(path);
    container.replaceChildren();
    window.scrollTo(0, 0);
    if (!found) {
      notFound(container, path);
      return;
    }
    document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', path.startsWith(`/${a.dataset.nav}`) || (a.dataset.nav === 'fleet' && path.startsWith('/agents'))));
    const result = await found.route.render(container, found.params, ctx);
    if (current === generation) cleanup = result ?? null;
    else if (typeof result === 'function') result();
  }

  /** Ends the current view (its subscriptions and timers), e.g. on sign-out. */
  function clear() {
    generation++;
    if (typeof cleanup === 'function') cleanup();
    cleanup = null;
  }

  window.addEventListener('hashchange', () => void render());
  return { render, clear };
}
