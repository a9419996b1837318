import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { Router } from 'express';
import { packageRoot } from '../../shared/package-root.js';

/**
 * The dashboard's files: plain HTML, CSS and JavaScript modules, no build
 * step. They stay at the package root's ui/ when Fusion runs from dist/.
 */
export const UI_STATIC_DIR = join(packageRoot(import.meta.url), 'ui');

/** The `yaml` package's browser build (already a dependency of Fusion), for parsing and printing YAML in the editor. */
function yamlBrowserDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('yaml/package.json')), 'browser');
}

/**
 * Serves the web dashboard at `/ui`. The page holds no secrets: it asks for
 * an admin token and talks only to the public management API. Responses are
 * not cached by the browser past a revalidation, so an upgraded Fusion serves
 * its new UI at once.
 */
export function uiRouter(): Router {
  const router = Router();
  router.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    next();
  });
  const options = { index: 'index.html', maxAge: 0, etag: true, fallthrough: true, redirect: true };
  router.use('/vendor/yaml', express.static(yamlBrowserDir(), options));
  router.use(express.static(UI_STATIC_DIR, options));
  return router;
}
