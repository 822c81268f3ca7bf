// A fresh npm project with the packed package installed, as a user gets it: `npm pack` of this
// checkout, then `npm install <tarball>` without install scripts (what npm 11 does for an
// unapproved dependency). The package's prebuild is its addon.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../lib/native/binding.js';

/** Packs the checkout into `dir`, makes `dir` an npm project depending on it; returns the tarball. */
export function installPacked(dir: string): string {
  const tgz = join(dir, execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: packageRoot, encoding: 'utf8' }).trim().split('\n').pop()!);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module' }));
  reinstall(dir, tgz);
  return tgz;
}

/** `npm install <tarball>` again: node_modules/whisper-serve replaced whole. */
export function reinstall(dir: string, tgz: string): void {
  execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tgz], { cwd: dir, stdio: 'ignore' });
}
