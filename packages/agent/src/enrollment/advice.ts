import { NOT_ADMITTED } from '@cluster/protocol/agent-side';

/** What the enrollment advice fills in: this agent's own id, settings and files. */
export interface EnrollmentAdviceContext {
  workerId: string;
  /** Where the enrollment token came from (AGENT_ENROLL_TOKEN, --enroll-token-file …). */
  tokenFrom: string;
  /** Where the credential is stored once enrolled. */
  credentialFile: string;
  localAddress?: string | undefined;
}

const NEW_TOKEN = 'an admin creates a new one with `cluster-master enroll create` on the master';

/** The advice for a refused enrollment; `body` is the master's short reason, already sanitised. */
export function adviceForEnrollment(status: number, body: string, ctx: EnrollmentAdviceContext): string {
  const address = ctx.localAddress?.replace(/^::ffff:(?=\d)/, '');
  switch (status) {
    case 401:
      if (body.startsWith(NOT_ADMITTED)) {
        return `the master does not know worker ${ctx.workerId} or this enrollment token (its log says which): register the worker with \`cluster-master worker register ${ctx.workerId} ${address ?? '<address>'}\` on the master, and check that ${ctx.tokenFrom} holds a live enrollment token (\`cluster-master enroll list\`)`;
      }
      if (/revoked|expired|used up/.test(body)) return `the enrollment token in ${ctx.tokenFrom} can no longer be used: ${NEW_TOKEN}; put it in ${ctx.tokenFrom} and restart the agent`;
      return `the master does not accept the enrollment token in ${ctx.tokenFrom}: ${NEW_TOKEN}`;
    case 403:
      if (/--workers/.test(body)) return `the enrollment token covers other worker ids: create one whose --workers covers ${ctx.workerId}, or check AGENT_WORKER_ID`;
      return `worker ${ctx.workerId} is registered with another address${address === undefined ? '' : ` (this side of the connection: ${address})`}: run \`cluster-master worker update ${ctx.workerId} --ip ${address ?? '<address it connects from>'}\` on the master`;
    case 409:
      return `worker ${ctx.workerId} already has a credential, so it cannot enroll again: if this machine lost it, run \`cluster-master worker token ${ctx.workerId} --token-file FILE\` on the master and put the token in ${ctx.credentialFile} (or in AGENT_TOKEN_FILE)`;
    case 426:
      return 'the master is of a release without enrollment (it speaks protocol version 1 or 2): upgrade the master, or give this agent its own token (`cluster-master worker token ID`, in AGENT_TOKEN_FILE)';
    case 429:
      return 'the master refuses this address for a while after too many refused attempts from it: fix the token or id, and a later retry gets in';
    default:
      return `the master answered HTTP ${status} to the enrollment: check that the master URL points at the master's agent endpoint`;
  }
}
