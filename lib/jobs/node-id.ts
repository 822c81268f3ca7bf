/**
 * Who holds a job's lease: `<node name>/<pid>/<random>`. The node name (NODE_NAME, default the
 * host's name) must differ between machines. Leases are what hands a dead node's jobs to others;
 * the name lets a node see at once that a lease's holder on its own machine is gone (its pid
 * no longer runs, or is this very process under a new random part: a restarted container is
 * often pid 1 again), so a restart on one machine does not wait for the lease to lapse.
 */
import { randomBytes } from 'node:crypto';
import { processRuns } from '../processes.js';

export interface NodeIdentity {
  /** This process's lease owner string. */
  readonly owner: string;
  readonly name: string;
  /** True when `owner` is a process on this machine that no longer runs. */
  isDead(owner: string): boolean;
}

export function nodeIdentity(name: string): NodeIdentity {
  const nonce = randomBytes(4).toString('hex');
  const owner = `${name}/${process.pid}/${nonce}`;
  return {
    owner,
    name,
    isDead(other) {
      const m = /^(.*)\/(\d+)\/([0-9a-f]+)$/.exec(other);
      if (!m || m[1] !== name || other === owner) return false;
      const pid = Number(m[2]);
      return pid === process.pid || !processRuns(pid);
    },
  };
}
