/** `whisper-serve transcribe <inputs...>`: several inputs run as one queue on one loaded model. */
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { audioOptions, openAudio, sweepStaleJobDirs } from '../../audio/source.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { FORMATS, formatTranscript, PROGRESSIVE_FORMATS, progressiveWriter, type OutputFormat, type ProgressiveFormat } from '../../output/formats.js';
import { Whisper } from '../../api.js';
import { parseLanguage, startLanguage } from '../../languages.js';
import { cueNumber, decodeNumber, positiveInt, temperatures } from '../args.js';
import { CUE_DEFAULTS } from '../../output/cues.js';
import { EXIT, reportError } from '../errors.js';
import { outputStems, stemOf } from '../output-names.js';
import { createDownloadProgress, createProgress } from '../progress.js';
import { startup } from '../settings.js';

const isProgressive = (f: OutputFormat): f is ProgressiveFormat => (PROGRESSIVE_FORMATS as readonly string[]).includes(f);

async function closeStream(out: Writable): Promise<void> {
  out.end();
  await finished(out).catch(() => undefined);
}

interface TranscribeFlags {
  model?: string;
  outputDir?: string;
  format: OutputFormat | 'all';
  language?: string;
  multilingual?: boolean;
  translate?: boolean;
  wordTimestamps?: boolean;
  withoutTimestamps?: boolean;
  conditionOnPreviousText?: boolean;
  batchSize?: number;
  threads?: number;
  vad: boolean;
  gpu?: boolean;
  prompt?: string;
  initialPrompt?: string;
  beamSize?: number;
  bestOf?: number;
  patience?: number;
  temperature?: { temperature: number; temperatureIncrement: number };
  /** --no-speech-threshold: commander reads its leading "no-" as a negation, so it lands here (true when absent). */
  speechThreshold?: number | boolean;
  compressionRatioThreshold?: number;
  logprobThreshold?: number;
  maxLineWidth: number;
  maxLineCount: number;
  maxCueSeconds: number;
  highlightWords?: boolean;
  verbose?: boolean;
}

export function transcribeCommand(): Command {
  return new Command('transcribe')
    .description('transcribe audio or video files, URLs, or - (stdin)')
    .argument('<inputs...>', 'files, http(s) URLs, or - for stdin')
    .option('-m, --model <name|path>', 'model name from the registry or a ggml .bin path (default: WHISPER_MODEL, else tiny.en)')
    .option('-o, --output-dir <dir>', 'write <input>.<format> files here (default: stdout for one input)')
    .addOption(new Option('-f, --format <format>', 'output format').choices([...FORMATS, 'all']).default('txt'))
    .option('-l, --language <code|name>', 'spoken language: a code (de) or a name (German); default: detected on the first window')
    .option('--multilingual', "detect each window's language and decode it in that one (recordings that switch language)")
    .option('--translate', 'translate to English')
    .option('--word-timestamps', 'word-level timings (json words; srt/vtt cues split on them)')
    .option('--batch-size <n>', '30 s windows decoded at once (default MODEL_BATCH_SIZE, else 8 on the CPU, from free VRAM on a GPU)', positiveInt)
    .option('--without-timestamps', 'txt only: decode text tokens alone, as faster-whisper batched does (a little faster; WER up to 1.7 points worse on speech where windows fall back: bench/README.md)')
    .option('--condition-on-previous-text', "condition each window on the text before it (windows in order, on whisper.cpp's own decoder)")
    .option('--threads <n>', 'CPU threads in all', positiveInt)
    .option('--vad', 'cut windows at speech regions (Silero VAD; WHISPER_VAD_MODEL)', false)
    .option('--no-vad', 'fixed 30 s windows (default)')
    .option('--gpu', 'require a CUDA GPU')
    .option('--no-gpu', 'CPU only')
    .option('--prompt <text>', 'initial prompt (vocabulary, spelling, style)')
    .option('--initial-prompt <text>', 'the same as --prompt (faster-whisper\'s name)')
    .option('--beam-size <n>', 'beam search width, 1 to 8 (default 1: greedy; > 1 decodes with whisper.cpp\'s decoder)', decodeNumber('beamSize'))
    .option('--best-of <n>', 'samples per fallback temperature, 1 to 8 (default 5)', decodeNumber('bestOf'))
    .option('--patience <x>', 'beam search patience, 0.1 to 10 (default: whisper.cpp\'s)', decodeNumber('patience'))
    .option('--temperature <t|list>', 'one temperature (no fallback), or the fallback\'s rising steps (default 0,0.2,0.4,0.6,0.8,1)', temperatures)
    .option('--compression-ratio-threshold <r>', 'a window whose text compresses more than this is decoded again warmer (default 2.4)', decodeNumber('compressionRatioThreshold'))
    .option('--logprob-threshold <lp>', 'a window whose mean log-probability is below this is decoded again warmer (default -1)', decodeNumber('logprobThreshold'))
    .option('--no-speech-threshold <p>', 'a window with no-speech probability above this (and unlikely text) is silence (default 0.6)', decodeNumber('noSpeechThreshold'))
    .option('--max-line-width <n>', 'characters a subtitle line, 10 to 200', cueNumber('maxLineWidth'), CUE_DEFAULTS.maxLineWidth)
    .option('--max-line-count <n>', 'lines a subtitle cue, 1 to 10', cueNumber('maxLineCount'), CUE_DEFAULTS.maxLineCount)
    .option('--max-cue-seconds <s>', 'seconds a subtitle cue at most, 1 to 60 (cues also end at pauses and sentences)', cueNumber('maxCueSeconds'), CUE_DEFAULTS.maxCueSeconds)
    .option('--highlight-words', 'srt/vtt: a cue per word said, underlined among its neighbours (turns on --word-timestamps)')
    .option('--verbose', 'stack traces on errors')
    .addHelpText(
      'after',
      `
Examples:
  $ whisper-serve transcribe meeting.m4a
  $ whisper-serve transcribe talk.mp4 -f srt -o subs/
  $ whisper-serve transcribe https://example.com/podcast.mp3 -f json --word-timestamps
  $ cat audio.ogg | whisper-serve transcribe - -f vtt

Exit codes: 0 all inputs done, 1 an input failed (the others still ran), 2 usage, 3 setup (model, addon, ffmpeg, GPU), 130 interrupted (Ctrl-C; temp files removed).`,
    )
    .action(async (inputs: string[], flags: TranscribeFlags, cmd: Command) => {
      process.exitCode = await runTranscribe(inputs, flags, cmd.getOptionValueSource('gpu') === 'cli' ? flags.gpu : undefined);
    });
}

/**
 * Ctrl-C / SIGTERM abort the input in hand (its download, ffmpeg, the decode), whose temp dir is
 * then removed; a second signal exits at once (the exit hook still removes temp dirs).
 */
function abortOnSignals(log: Logger): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) process.exit(EXIT.INTERRUPTED);
    log.warn(`${sig} received: stopping (again to exit at once)`);
    ctl.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ctl.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function runTranscribe(inputs: string[], flags: TranscribeFlags, gpu: boolean | undefined): Promise<number> {
  const { cfg, log } = startup();
  await sweepStaleJobDirs(cfg.tempRoot, log);
  const stop = abortOnSignals(log);
  try {
    return await transcribeAll(inputs, flags, gpu, cfg, log, stop.signal);
  } finally {
    stop.dispose();
  }
}

async function transcribeAll(inputs: string[], flags: TranscribeFlags, gpu: boolean | undefined, cfg: Config, log: Logger, signal: AbortSignal): Promise<number> {
  let whisper: Whisper;
  try {
    parseLanguage(flags.language); // an unknown language is a usage error before anything loads
    const download = createDownloadProgress(flags.model ?? cfg.model);
    whisper = await Whisper.load(flags.model ?? cfg.model, {
      config: cfg,
      onDownload: download.update,
      signal,
      ...(gpu !== undefined && { gpu }),
      ...(flags.threads && { threads: flags.threads }),
      ...(flags.batchSize && { batchSize: flags.batchSize }),
      logger: log,
    }).finally(() => download.stop());
    startLanguage({ language: flags.language, translate: !!flags.translate, multilingual: !!flags.multilingual }, whisper.info());
  } catch (err) {
    return reportError(err, !!flags.verbose);
  }
  const formats: OutputFormat[] = flags.format === 'all' ? [...FORMATS] : [flags.format];
  const toStdout = !flags.outputDir && inputs.length === 1 && formats.length === 1;
  const wordTimes = !!(flags.wordTimestamps || flags.highlightWords);
  if (flags.withoutTimestamps && (formats.some((f) => f !== 'txt') || wordTimes)) {
    process.stderr.write('error: --without-timestamps writes txt only, without word timings\n');
    return EXIT.USAGE;
  }
  if (!toStdout && !flags.outputDir) {
    process.stderr.write('error: several inputs or formats need --output-dir\n');
    return EXIT.USAGE;
  }
  const stems = outputStems(inputs);
  if (flags.outputDir) {
    const renamed = inputs.filter((input, i) => stems[i] !== stemOf(input));
    if (renamed.length > 0) log.warn('inputs with the same name: their outputs keep the extension (and a number) to stay apart', { inputs: renamed, stems: stems.filter((_, i) => renamed.includes(inputs[i]!)) });
  }
  let failed = 0;
  try {
    for (const [i, input] of inputs.entries()) {
      const jobLog = log.child(inputs.length > 1 ? `${i + 1}/${inputs.length}` : 'cli');
      let closeAudio: (() => Promise<void>) | undefined;
      try {
        // Decoded as it is transcribed, block by block: a 10 h file is never in memory whole.
        const audio = await openAudio(input === '-' ? Readable.from(process.stdin) : input, { ...audioOptions(cfg), signal });
        closeAudio = () => audio.close();
        jobLog.info('audio opened', { input, format: audio.format, codec: audio.codec, ...(audio.declaredSeconds !== undefined && { seconds: Number(audio.declaredSeconds.toFixed(2)) }) });
        const progress = createProgress(basename(input));
        const fileOf = (format: OutputFormat) => join(flags.outputDir!, `${stems[i]}.${format === 'verbose_json' ? 'verbose.json' : format}`);
        if (flags.outputDir) mkdirSync(flags.outputDir, { recursive: true });
        // txt, srt and vtt are written as segments become final; json formats once at the end.
        const captions = { maxLineWidth: flags.maxLineWidth, maxLineCount: flags.maxLineCount, maxCueSeconds: flags.maxCueSeconds, highlightWords: !!flags.highlightWords };
        const streams = formats.filter(isProgressive).map((format) => {
          const writer = progressiveWriter(format, captions);
          const out = toStdout ? process.stdout : createWriteStream(fileOf(format));
          out.write(writer.head);
          return { format, writer, out };
        });
        const transcribing = whisper.transcribe(audio.chunks, {
          ...(audio.declaredSeconds !== undefined && { expectedSeconds: audio.declaredSeconds }),
          ...(flags.language && { language: flags.language }),
          multilingual: !!flags.multilingual,
          translate: !!flags.translate,
          wordTimestamps: wordTimes,
          conditionOnPreviousText: !!flags.conditionOnPreviousText,
          // txt too decodes with timestamps unless asked: a timestamp is where the decoder says a
          // window's text ends, which lets it go on past a pause and notice a window left
          // unfinished; text tokens alone lost 1.7 WER points on base's fallback-prone clauses.
          withoutTimestamps: !!flags.withoutTimestamps,
          vad: flags.vad,
          ...((flags.initialPrompt ?? flags.prompt) && { initialPrompt: flags.initialPrompt ?? flags.prompt }),
          ...flags.temperature,
          ...(flags.beamSize !== undefined && { beamSize: flags.beamSize }),
          ...(flags.bestOf !== undefined && { bestOf: flags.bestOf }),
          ...(flags.patience !== undefined && { patience: flags.patience }),
          ...(flags.compressionRatioThreshold !== undefined && { compressionRatioThreshold: flags.compressionRatioThreshold }),
          ...(flags.logprobThreshold !== undefined && { logprobThreshold: flags.logprobThreshold }),
          ...(typeof flags.speechThreshold === 'number' && { noSpeechThreshold: flags.speechThreshold }),
          onProgress: progress.update,
          onSegment: (segment) => streams.forEach((s) => s.out.write(s.writer.add(segment))),
          signal,
        }).finally(() => progress.stop());
        const transcript = await transcribing.catch(async (err: unknown) => {
          // A file cut short is not left looking like a transcript.
          await Promise.all(streams.map(async (s) => s.out !== process.stdout && (await closeStream(s.out), rmSync(fileOf(s.format), { force: true }))));
          throw err;
        });
        jobLog.info('transcribed', { seconds: Number(transcript.timings.transcribeSeconds.toFixed(2)), realtimeFactor: Number(transcript.timings.realtimeFactor.toFixed(1)) });
        for (const s of streams) {
          s.out.write(s.writer.end());
          if (s.out === process.stdout) continue;
          await closeStream(s.out);
          jobLog.info('written', { file: fileOf(s.format) });
        }
        const meta = { model: flags.model, timings: { load: whisper.loadSeconds, ...(audio.downloadSeconds && { download: audio.downloadSeconds }) } };
        for (const format of formats.filter((f) => !isProgressive(f))) {
          const text = formatTranscript(transcript, format, meta, captions);
          if (toStdout) {
            process.stdout.write(text);
          } else {
            writeFileSync(fileOf(format), text);
            jobLog.info('written', { file: fileOf(format) });
          }
        }
      } catch (err) {
        if (signal.aborted) return EXIT.INTERRUPTED;
        failed++;
        // Set-up (the VAD model, ffmpeg) fails every input alike: the run stops with its exit code.
        if (reportError(err, !!flags.verbose) === EXIT.SETUP) return EXIT.SETUP;
      } finally {
        await closeAudio?.();
      }
    }
  } finally {
    whisper.dispose();
  }
  return failed ? EXIT.JOB_FAILED : EXIT.OK;
}
