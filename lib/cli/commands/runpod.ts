/** `whisper-serve runpod`: the RunPod serverless worker (or, off RunPod, the SDK's local test mode). */
import { Command } from 'commander';
import { sweepStaleJobDirs } from '../../audio/source.js';
import { DEFAULT_IDLE_TIMEOUT, preloadWanted, readRunpodEnv } from '../../config.js';
import { runLocalTest } from '../../runpod/local.js';
import { ModelHost } from '../../jobs/model-host.js';
import { RunpodWorker } from '../../runpod/worker.js';
import { portNumber } from '../args.js';
import { EXIT, logUnhandledRejections, reportError } from '../errors.js';
import { startServer } from '../run-server.js';
import { startup } from '../settings.js';

interface RunpodFlags {
  test_input?: string;
  testInputFile: string;
  rp_serve_api?: boolean;
  rp_api_port: number;
  rp_api_host: string;
}

export function runpodCommand(): Command {
  return new Command('runpod')
    .description('run as a RunPod serverless worker; without RUNPOD_WEBHOOK_GET_JOB, run ./test_input.json once (local test mode)')
    .option('--test_input <json>', 'local test mode: the job as JSON text, e.g. \'{"input": {"audio_url": "https://…"}}\'')
    .option('--test-input-file <path>', 'local test mode: the job file', 'test_input.json')
    .option('--rp_serve_api', 'serve the RunPod-style local API (/run, /runsync, /status, …) instead')
    .option('--rp_api_port <port>', 'port of --rp_serve_api', portNumber, 8000)
    .option('--rp_api_host <host>', 'host of --rp_serve_api', '127.0.0.1')
    .addHelpText(
      'after',
      `
Environment: RUNPOD_WEBHOOK_GET_JOB, RUNPOD_WEBHOOK_POST_OUTPUT, RUNPOD_WEBHOOK_PING, RUNPOD_PING_INTERVAL,
RUNPOD_AI_API_KEY, RUNPOD_POD_ID (set by the platform); RUNPOD_REFRESH_WORKER=1, RUNPOD_GRACE_SECONDS (20);
WHISPER_MODEL, WHISPER_MODEL_CACHE, MODEL_BATCH_SIZE, PRELOAD=1, LOG_LEVEL, LOG_FORMAT=json.

Examples:
  $ whisper-serve runpod                                  # on RunPod: the job loop
  $ whisper-serve runpod                                  # locally: runs ./test_input.json once
  $ whisper-serve runpod --test_input '{"input": {"audio_url": "https://host/a.mp3", "transcription": "srt"}}'
  $ whisper-serve runpod --rp_serve_api --rp_api_port 8000

Exit codes: 0 job done (test mode) or stopped cleanly (SIGTERM), 1 the test job failed, 3 setup.`,
    )
    .action(async (flags: RunpodFlags) => {
      process.exitCode = await runRunpod(flags);
    });
}

async function runRunpod(flags: RunpodFlags): Promise<number> {
  const { cfg, log } = startup();
  const env = readRunpodEnv();
  if (flags.rp_serve_api) return startServer({ host: flags.rp_api_host, port: flags.rp_api_port }, cfg, log);
  const host = new ModelHost(log, { config: cfg, idleSeconds: cfg.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT.worker });
  if (!env.getJobUrl) {
    return runLocalTest({ ...(flags.test_input !== undefined && { testInput: flags.test_input }), file: flags.testInputFile, host, log });
  }
  await sweepStaleJobDirs(cfg.tempRoot, log);
  logUnhandledRejections(log);
  try {
    if (preloadWanted()) await host.preload();
  } catch (err) {
    return reportError(err, false);
  }
  const worker = new RunpodWorker({ env, host, log });
  const onSignal = (sig: string) => {
    log.info(`${sig} received`);
    void worker.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await worker.run();
  await host.close();
  return EXIT.OK;
}
