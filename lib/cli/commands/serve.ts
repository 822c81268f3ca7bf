/** `whisper-serve serve`: the HTTP API (RunPod-style job routes, OpenAI audio routes, /metrics). */
import { Command } from 'commander';
import { portNumber, positiveInt } from '../args.js';
import { startServer } from '../run-server.js';
import { startup } from '../settings.js';

interface ServeFlags {
  model?: string;
  host?: string;
  port?: number;
  concurrency?: number;
  db?: string;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve the HTTP API: /v1/audio/transcriptions, /run, /runsync, /status/:id, /cancel/:id, /health, /metrics')
    .option('-m, --model <name|path>', 'model name from the registry or a ggml .bin path (WHISPER_MODEL; default tiny.en)')
    .option('--host <host>', 'interface to listen on (HOST; default 127.0.0.1)')
    .option('-p, --port <port>', 'port (PORT; default 8000; 0 = any free port)', portNumber)
    .option('--concurrency <n>', 'transcriptions at once, taking turns on the model (SERVER_CONCURRENCY; default 8)', positiveInt)
    .option('--db <file|url>', 'where accepted jobs are kept: a SQLite file, or postgres://… shared by many servers (JOBS_DB; default <model cache>/jobs.sqlite)')
    .addHelpText(
      'after',
      `
Environment: HOST, PORT, API_KEY (bearer auth on all but /health), JOBS_DB, NODE_NAME, JOB_LEASE_SECONDS (30), MAX_QUEUE (1000), SERVER_CONCURRENCY,
MAX_UPLOAD_BYTES, SHUTDOWN_GRACE_SECONDS (20), WHISPER_MODEL, MODEL_BATCH_SIZE, PRELOAD=1, LOG_FORMAT=json,
MAX_AUDIO_SECONDS (86400), MAX_AUDIO_BYTES, DOWNLOAD_IDLE_SECONDS (30), ALLOW_PRIVATE_URLS (1 or a CIDR list).

Examples:
  $ whisper-serve serve --port 8000
  $ whisper-serve serve -m base --port 8000
  $ curl -F file=@meeting.m4a -F response_format=srt http://127.0.0.1:8000/v1/audio/transcriptions
  $ curl -d '{"input": {"audio_url": "https://host/a.mp3"}}' http://127.0.0.1:8000/run
  $ curl http://127.0.0.1:8000/status/<id>`,
    )
    .action(async (flags: ServeFlags) => {
      const { cfg, log } = startup();
      process.exitCode = await startServer(
        {
          ...(flags.host && { host: flags.host }),
          ...(flags.port !== undefined && { port: flags.port }),
          ...(flags.concurrency && { concurrency: flags.concurrency }),
          ...(flags.db && { jobsDb: flags.db }),
        },
        flags.model ? { ...cfg, model: flags.model } : cfg,
        log,
      );
    });
}
