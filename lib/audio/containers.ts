/**
 * The containers ffmpeg may open: audio and video files only. Playlists and manifests (HLS, DASH,
 * concat, SDP, RTSP, image sequences, …) name other files and URLs for the demuxer to open, which
 * turned uploads into reads of the server's files and requests to its network: no demuxer of that
 * kind is on this list, so neither ffprobe nor ffmpeg will even try one (`-format_whitelist`), and
 * the decoder is told the prober's answer (`-f`) rather than guessing again.
 */
export const DEMUXERS: readonly string[] = [
  // audio
  'aac', 'ac3', 'eac3', 'aiff', 'amr', 'amrnb', 'amrwb', 'ape', 'au', 'caf', 'dts', 'dtshd', 'flac', 'gsm', 'loas', 'mlp', 'truehd',
  'mp3', 'mpc', 'mpc8', 'ogg', 'tta', 'voc', 'w64', 'wav', 'wv', 'xwma', 'dsf',
  // audio and video containers
  'asf', 'avi', 'flv', 'matroska', 'mov', 'mpeg', 'mpegts', 'mxf', 'nut', 'rm',
];

/** ffprobe's format_name ("mov,mp4,m4a,3gp,3g2,mj2") as a demuxer name ffmpeg's `-f` takes: its first listed name. */
export function demuxerOf(formatName: string): string | undefined {
  return formatName.split(',').find((n) => DEMUXERS.includes(n));
}

/**
 * A playlist or manifest by its first bytes (audio files start with binary magic: ID3, RIFF, fLaC,
 * OggS, an ftyp box): refused even where a demuxer would also take the file, since a polyglot
 * (a playlist with an MP3 appended) is a playlist to some ffmpeg and audio to another.
 */
export function sniffManifest(head: Buffer): string | undefined {
  const text = head.toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart();
  if (/^#EXTM3U/i.test(text)) return 'an HLS playlist (m3u8)';
  if (/^<\?xml|^<MPD[\s>]|^<smil|^<playlist/i.test(text) || /<MPD[\s>]/.test(text)) return 'a DASH manifest or XML playlist';
  if (/^ffconcat|^file\s+'/i.test(text)) return 'an ffmpeg concat list';
  if (/^v=0\r?\n/.test(text)) return 'an SDP session description';
  if (/^\[playlist\]/i.test(text)) return 'a PLS playlist';
  if (/^#EXT|^(https?|file|rtsp|rtmp|data):/i.test(text)) return 'a playlist of URLs';
  return undefined;
}
