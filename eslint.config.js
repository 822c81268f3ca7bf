// Lint for lib/ and test/: typescript-eslint's recommended rules, and the layers of
// ../shared/ARCHITECTURE.md as import rules (docs/architecture.md says what each may import).
import tseslint from 'typescript-eslint';

// The environment is read by the CLI's commands and the library's entry (lib/api.ts) alone, once,
// at start; everything below takes its settings as arguments (lib/config.ts's DEFAULTS otherwise).
const readsEnvironment = {
  regex: '(^|/)config\\.js$',
  importNames: ['readConfig', 'readServerConfig', 'readRunpodEnv', 'preloadWanted'],
  message: 'only lib/cli and lib/api.ts read the environment: take the setting as a parameter (docs/architecture.md)',
};

const upward = (...dirs) => ({
  'no-restricted-imports': [
    'error',
    { patterns: [{ regex: `(^|/)(${dirs.join('|')})/`, message: `imports point down the layers (docs/architecture.md): not ${dirs.join(', ')}` }, readsEnvironment] },
  ],
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'build*/', 'bench/', 'models/', 'prebuilds/', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  // Core: a ggml file and PCM in, segments out. Of models/ it reads only the ggml header (a file format, no policy).
  {
    files: ['lib/whisper.ts', 'lib/batched.ts', 'lib/pcm-blocks.ts', 'lib/segment-stream.ts', 'lib/windows.ts', 'lib/vad.ts', 'lib/decode-options.ts', 'lib/device.ts', 'lib/native/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '(^|/)(audio|output|net|jobs|server|runpod|cli)/|(^|/)api\\.js$', message: 'the core takes PCM and a model file: no audio decoding, formats, network, jobs or shells (docs/architecture.md)' },
            { regex: '(^|/)models/(?!ggml-format\\.js$)', message: 'the core reads only the ggml header of models/ (docs/architecture.md)' },
            readsEnvironment,
          ],
        },
      ],
    },
  },
  // What every layer may use: configuration, errors, logs.
  { files: ['lib/config.ts', 'lib/errors.ts', 'lib/log.ts', 'lib/memory.ts'], rules: upward('audio', 'models', 'output', 'jobs', 'server', 'runpod', 'cli') },
  // Beside the jobs: audio, output formats, models.
  { files: ['lib/audio/**', 'lib/output/**', 'lib/models/**', 'lib/net/**'], rules: upward('jobs', 'server', 'runpod', 'cli') },
  { files: ['lib/jobs/**'], rules: upward('server', 'runpod', 'cli') },
  // The library's Whisper (names, any audio input) sits beside the jobs, and reads the environment as a shell does.
  {
    files: ['lib/api.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)(server|runpod|cli)/', message: 'imports point down the layers (docs/architecture.md)' }] }] },
  },
  // Shells never import each other; the CLI is the entry point and may start the others.
  { files: ['lib/server/**'], rules: upward('runpod', 'cli') },
  { files: ['lib/runpod/**'], rules: upward('server', 'cli') },
  {
    files: ['lib/cli/commands/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '^\\./', message: 'a command does not import another command: share a helper in lib/cli/' }] }] },
  },
  // Tests: loose typing of parsed JSON is fine.
  { files: ['test/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
