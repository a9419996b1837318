// Types of bin/load-bundle.js (plain JavaScript: the bins run without a build step of their own).
import type vm from 'node:vm';

export function cacheFileOf(file: string): string;
export function buildIdOf(source: string): string | undefined;
export function compileBundle(file: string, options?: { useCache?: boolean }): { script: vm.Script; source: string; usedCache: boolean; run(): unknown };
