/**
 * Runs the HTTP server until SIGTERM/SIGINT, then shuts down gracefully; resolves to the exit
 * code. Shared by `serve` and `runpod --rp_serve_api` (commands do not import each other).
 */
import { DEFAULT_IDLE_TIMEOUT, preloadWanted, readServerConfig, type Config, type ServerConfig } from '../config.js';
import { sweepStaleJobDirs } from '../audio/source.js';
import { ModelHost } from '../jobs/model-host.js';
import type { Logger } from '../log.js';
import { createApp } from '../server/app.js';
import { EXIT, logUnhandledRejections, reportError } from './errors.js';

export async function startServer(overrides: Partial<ServerConfig>, config: Config, log: Logger): Promise<number> {
  const cfg = { ...readServerConfig(), ...overrides };
  const host = new ModelHost(log, { config, idleSeconds: config.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT.server });
  await sweepStaleJobDirs(config.tempRoot, log);
  logUnhandledRejections(log);
  let app;
  try {
    if (preloadWanted()) await host.preload();
    app = await createApp(cfg, host, log);
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

