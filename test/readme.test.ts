// The README, run: every sh and ts block of README.md, as written, in a fresh npm project made
// from the packed tarball (`npm install whisper-serve` installs it), with an empty HOME and the
// models on a loopback mirror (WHISPER_MODEL_MIRROR: our import of the PyPI tiny.en and base,
// whose checksums the registry knows, and whisper.cpp's Silero VAD). The files the commands name
// (meeting.m4a, ./faster-whisper-small …) are made first, as a user would have them. The only
// substitutions are the README's placeholders: `https://host/` (a loopback server), `<id>` (the
// job id the command before printed) and the package spec. A block that cannot run here says why
// in a `<!-- readme-test skip: … -->` line before it; ts blocks are type-checked (strict) against
// the installed package's types, then run. So the README cannot drift from the package.
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native/binding.js';
import { FIXTURE_FFMPEG, JFK_TEXT, JFK_WAV, SILERO, SILERO_ONNX, TINY_EN, TINY_EN_CT2, have, normalise } from './helpers/fixtures.js';
import { writeHfCheckpoint } from './helpers/hf-checkpoint.js';
import { listen, type Loopback } from './helpers/loopback.js';
import { runChild } from './helpers/spawn.js';

const BASE = join(packageRoot, 'models', 'ggml-base.bin');
const prebuilt = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'whisper-serve.node');
const ready = have(prebuilt, TINY_EN, BASE, TINY_EN_CT2, JFK_WAV, SILERO, SILERO_ONNX);
const dir = mkdtempSync(join(tmpdir(), 'ws-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Block {
  lang: string;
  code: string;
  line: number;
  skip?: string;
}

/** README.md's fenced blocks, each with the skip reason its preceding comment gives. */
function readmeBlocks(): Block[] {
  const text = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  return [...text.matchAll(/(?:<!-- readme-test skip: (.+?) -->\n)?```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[2]!,
    code: m[3]!,
    line: text.slice(0, m.index).split('\n').length,
    ...(m[1] && { skip: m[1] }),
  }));
}

/** A sh block's commands: `\` continuations joined, blank and comment-only lines left out. */
const commands = (code: string) => code.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));

describe.skipIf(!ready)('the README, run as written in a fresh project', () => {
  const home = join(dir, 'home');
  const project = join(dir, 'project');
  let audio: Loopback;
  let mirror: Loopback;
  let env: NodeJS.ProcessEnv;
  let lastId = '';

  beforeAll(async () => {
    mkdirSync(home);
    mkdirSync(project);
    const models: Record<string, string> = { '/ggml-tiny.en.bin': TINY_EN, '/ggml-base.bin': BASE, '/ggml-silero-v6.2.0.bin': SILERO };
    const serve = (files: Record<string, string>) => (req: IncomingMessage, res: ServerResponse) => {
      const file = files[new URL(req.url ?? '/', 'http://x').pathname];
      if (!file) return res.writeHead(404).end();
      res.writeHead(200, { 'content-length': statSync(file).size }).end(readFileSync(file));
    };
    mirror = await listen(serve(models));
    // The user's files, by the names the README uses.
    const encode = async (name: string, args: string[]) => {
      const r = await runChild(FIXTURE_FFMPEG, ['-v', 'error', '-y', '-i', JFK_WAV, ...args, join(project, name)]);
      expect(r.status, r.stderr).toBe(0);
    };
    await encode('meeting.m4a', ['-c:a', 'aac']);
    await encode('talk.mp4', ['-c:a', 'aac']);
    await encode('talk.mp3', []);
    await encode('podcast.mp3', []);
    await encode('audio.ogg', ['-c:a', 'libvorbis']);
    audio = await listen(serve({ '/podcast.mp3': join(project, 'podcast.mp3'), '/talk.mp3': join(project, 'talk.mp3') }));
    cpSync(TINY_EN_CT2, join(project, 'faster-whisper-small'), { recursive: true }); // a CTranslate2 directory (tiny's, under the README's name)
    writeHfCheckpoint(TINY_EN_CT2, join(project, 'whisper_model_cache', 'model'));
    copyFileSync(SILERO_ONNX, join(project, 'silero_vad_v6.onnx'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0', type: 'module' }));
    writeFileSync(join(project, 'test_input.json'), JSON.stringify({ input: { audio_url: `${audio.url}/talk.mp3` } }));

    const pipCache = (await runChild('python3', ['-m', 'pip', 'cache', 'dir'])).stdout.trim();
    env = { ...process.env, HOME: home, PATH: `${join(project, 'node_modules', '.bin')}:${process.env.PATH}`, WHISPER_MODEL_MIRROR: mirror.url, ALLOW_PRIVATE_URLS: '1', LOG_FORMAT: 'text', PIP_CACHE_DIR: pipCache, npm_config_cache: join(process.env.HOME ?? '/root', '.npm') };
    for (const k of ['WHISPER_MODEL_CACHE', 'XDG_CACHE_HOME', 'WHISPER_MODEL', 'WHISPER_VAD_MODEL', 'WHISPER_SERVE_ADDON', 'FFMPEG_DIR', 'FFMPEG_PATH', 'JOBS_DB', 'WHISPER_SERVE_TMP']) delete env[k];
    const packed = await runChild('npm', ['pack', '--silent', '--pack-destination', dir], { env: { ...process.env } });
    expect(packed.status, packed.stderr).toBe(0);
    env.README_TARBALL = join(dir, packed.stdout.trim().split('\n').pop()!);
  }, 300_000);
  afterAll(async () => {
    await audio?.close();
    await mirror?.close();
  });

  /** One README command in the project, placeholders filled; a server is left running for the block. */
  const servers: Array<ReturnType<typeof spawn>> = [];
  async function run(command: string): Promise<void> {
    const filled = command
      .replaceAll('https://host/', `${audio.url}/`)
      .replaceAll('<id>', lastId)
      .replace(/^npm install whisper-serve\b/, 'npm install --no-audit --no-fund --prefer-offline "$README_TARBALL"');
    if (/^whisper-serve serve\b/.test(filled)) {
      const child = spawn('bash', ['-c', `exec ${filled}`], { cwd: project, env, stdio: ['ignore', 'ignore', 'pipe'] });
      servers.push(child);
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (c: Buffer) => ((stderr += c.toString()), /listening on/.test(stderr) && resolve()));
        child.on('exit', (code) => reject(new Error(`${command}: exited ${code}\n${stderr}`)));
      });
      return;
    }
    const r = await runChild('bash', ['-c', filled], { env, timeout: 300_000, cwd: project });
    expect(r.status, `${command}\n${r.stderr}`).toBe(0);
    lastId = /"id"\s*:\s*"([\w-]+)"/.exec(r.stdout)?.[1] ?? lastId;
    // What transcribes to stdout prints the speech; a RunPod run completes; no answer is an error.
    const words = r.stdout.replace(/^(WEBVTT|\d+|.*-->.*)$/gm, ''); // subtitles: the cues' text
    if (/\btranscribe\b/.test(command) && !/ -o /.test(command)) expect(normalise(words), command).toContain('ask not what your country can do for you');
    if (/^whisper-serve runpod\b/.test(command)) expect(r.stdout, command).toMatch(/"status": "COMPLETED"/);
    if (/^curl\b/.test(command)) expect(r.stdout, command).not.toMatch(/"error"|"FAILED"/);
    expect(r.stderr, command).not.toMatch(/^error /m);
  }
  const stopServers = async () => {
    for (const s of servers.splice(0)) {
      s.kill('SIGTERM');
      await new Promise((r) => (s.exitCode !== null ? r(null) : s.once('exit', r)));
    }
  };

  const blocks = readmeBlocks();
  it('has blocks, each run below or skipped with a reason', () => {
    expect(blocks.length).toBeGreaterThan(8);
    for (const b of blocks) expect(['sh', 'ts'], `README.md:${b.line}`).toContain(b.lang);
    expect(blocks.filter((b) => b.skip).length).toBeLessThanOrEqual(3);
  });

  for (const b of blocks.filter((x) => !x.skip)) {
    it(`runs README.md:${b.line} (${b.lang}: ${b.code.split('\n')[0]!.slice(0, 60)})`, async () => {
      if (b.lang === 'sh') {
        try {
          for (const command of commands(b.code)) await run(command);
        } finally {
          await stopServers();
        }
        return;
      }
      // ts: type-checked against the installed package (strict), then run as the module it is.
      const file = join(project, `readme-${b.line}.mts`);
      writeFileSync(file, b.code);
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(packageRoot, 'node_modules', '@types')],
      });
      const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(problems, `README.md:${b.line}`).toEqual([]);
      const js = join(project, `readme-${b.line}.mjs`);
      writeFileSync(js, ts.transpileModule(b.code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText);
      const r = await runChild(process.execPath, [js], { env, cwd: project });
      expect(r.status, r.stderr).toBe(0);
      expect(normalise(r.stdout)).toContain(normalise(JFK_TEXT).slice(0, 40));
    });
  }
});
