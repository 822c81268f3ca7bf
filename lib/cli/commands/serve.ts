/** `whisper-serve serve`: the HTTP API (RunPod-style job routes, OpenAI audio routes, /metrics). */
import { Command } from 'commander';
import { readServerConfig, type ServerConfig } from '../../config.js';
import { sweepStaleJobDirs } from '../../audio/source.js';
import { createLogger, type Logger } from '../../log.js';
import { ModelHost } from '../../runpod/model-host.js';
import { createApp } from '../../server/app.js';
import { portNumber, positiveInt } from '../args.js';
import { EXIT, logUnhandledRejections, reportError } from '../errors.js';

interface ServeFlags {
  host?: string;
  port?: number;
  concurrency?: number;
  db?: string;
}

/** Serves until SIGTERM/SIGINT, then shuts down gracefully; resolves to the exit code. */
export async function startServer(overrides: Partial<ServerConfig>, log: Logger): Promise<number> {
  const cfg = { ...readServerConfig(), ...overrides };
  const host = new ModelHost(log);
  await sweepStaleJobDirs(log);
  logUnhandledRejections(log);
  let app;
  try {
    await host.preloadIfAsked();
    app = createApp(cfg, host, log);
  } catch (err) {
    await host.close();
    return reportError(err, false);
  }
  const server = app.server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  }).catch((err: Error) => {
    log.error(`cannot listen on ${cfg.host}:${cfg.port}: ${err.message}`);
  });
  if (!server.listening) return EXIT.SETUP;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : cfg.port;
  log.info(`listening on http://${cfg.host}:${port}`, { auth: cfg.apiKey ? 'bearer' : 'none', concurrency: cfg.concurrency });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info(`${sig} received: finishing running jobs, then exiting`);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await app.close(cfg.shutdownGraceSeconds * 1000);
  await host.close();
  log.info('server stopped');
  return EXIT.OK;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve the HTTP API: /v1/audio/transcriptions, /run, /runsync, /status/:id, /cancel/:id, /health, /metrics')
    .option('--host <host>', 'interface to listen on (HOST; default 127.0.0.1)')
    .option('-p, --port <port>', 'port (PORT; default 8000; 0 = any free port)', portNumber)
    .option('--concurrency <n>', 'jobs transcribed at once (SERVER_CONCURRENCY; default 1)', positiveInt)
    .option('--db <file>', 'SQLite file of accepted jobs (JOBS_DB; default <model cache>/jobs.sqlite)')
    .addHelpText(
      'after',
      `
Environment: HOST, PORT, API_KEY (bearer auth on all but /health), JOBS_DB, MAX_QUEUE (1000), SERVER_CONCURRENCY,
MAX_UPLOAD_BYTES, SHUTDOWN_GRACE_SECONDS (20), WHISPER_MODEL, MODEL_BATCH_SIZE, PRELOAD=1, LOG_FORMAT=json,
MAX_AUDIO_SECONDS (86400), MAX_AUDIO_BYTES, DOWNLOAD_IDLE_SECONDS (30), ALLOW_PRIVATE_URLS (1 or a CIDR list).

Examples:
  $ whisper-serve serve --port 8000
  $ curl -F file=@meeting.m4a -F response_format=srt http://127.0.0.1:8000/v1/audio/transcriptions
  $ curl -d '{"input": {"audio_url": "https://host/a.mp3"}}' http://127.0.0.1:8000/run
  $ curl http://127.0.0.1:8000/status/<id>`,
    )
    .action(async (flags: ServeFlags) => {
      process.exitCode = await startServer(
        {
          ...(flags.host && { host: flags.host }),
          ...(flags.port !== undefined && { port: flags.port }),
          ...(flags.concurrency && { concurrency: flags.concurrency }),
          ...(flags.db && { jobsDb: flags.db }),
        },
        createLogger(),
      );
    });
}
