export function postgresBinDir(): string | undefined;
export function startCluster(): Promise<{ url: string; stop(): void }>;
