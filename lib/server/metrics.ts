/** Prometheus text exposition of what an operator watches: jobs by state, audio done, speed, queue. */
import type { JobStatus } from '../jobs/store/job-store.js';

export class Metrics {
  private audioSeconds = 0;
  private transcribeSeconds = 0;
  private requests = new Map<string, number>();
  private transcriptions = { job: 0, openai: 0 };

  /** A finished transcription: a queued job's, or an OpenAI-route upload's. */
  jobDone(audioSeconds: number, transcribeSeconds: number, source: 'job' | 'openai' = 'job'): void {
    this.audioSeconds += audioSeconds;
    this.transcribeSeconds += transcribeSeconds;
    this.transcriptions[source]++;
  }

  request(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  render(jobs: Record<JobStatus, number>, running: number, modelLoaded: boolean): string {
    const lines = [
      '# HELP whisper_serve_jobs Jobs in the store by state.',
      '# TYPE whisper_serve_jobs gauge',
      ...Object.entries(jobs).map(([state, n]) => `whisper_serve_jobs{state="${state}"} ${n}`),
      '# HELP whisper_serve_queue_depth Jobs waiting to run.',
      '# TYPE whisper_serve_queue_depth gauge',
      `whisper_serve_queue_depth ${jobs.IN_QUEUE}`,
      '# HELP whisper_serve_jobs_running Jobs transcribing now.',
      '# TYPE whisper_serve_jobs_running gauge',
      `whisper_serve_jobs_running ${running}`,
      '# HELP whisper_serve_transcriptions_total Transcriptions finished since start, by where they came from.',
      '# TYPE whisper_serve_transcriptions_total counter',
      ...Object.entries(this.transcriptions).map(([source, n]) => `whisper_serve_transcriptions_total{source="${source}"} ${n}`),
      '# HELP whisper_serve_audio_seconds_total Seconds of audio transcribed since start (jobs and OpenAI uploads).',
      '# TYPE whisper_serve_audio_seconds_total counter',
      `whisper_serve_audio_seconds_total ${this.audioSeconds}`,
      '# HELP whisper_serve_transcribe_seconds_total Wall-clock seconds spent transcribing since start.',
      '# TYPE whisper_serve_transcribe_seconds_total counter',
      `whisper_serve_transcribe_seconds_total ${this.transcribeSeconds}`,
      '# HELP whisper_serve_realtime_factor Audio seconds per transcription second since start.',
      '# TYPE whisper_serve_realtime_factor gauge',
      `whisper_serve_realtime_factor ${this.transcribeSeconds > 0 ? this.audioSeconds / this.transcribeSeconds : 0}`,
      '# HELP whisper_serve_model_loaded 1 when a model is in memory.',
      '# TYPE whisper_serve_model_loaded gauge',
      `whisper_serve_model_loaded ${modelLoaded ? 1 : 0}`,
      '# HELP whisper_serve_http_requests_total HTTP requests by route and status.',
      '# TYPE whisper_serve_http_requests_total counter',
      ...[...this.requests].map(([labels, n]) => `whisper_serve_http_requests_total{${labels}} ${n}`),
    ];
    return `${lines.join('\n')}\n`;
  }
}
