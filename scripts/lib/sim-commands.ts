import type { AgentToFusionFrame, CommandFrame } from '../../shared/protocol/index.js';
import type { SimRunning } from './sim-config.js';

/**
 * The frames a simulated agent answers a command with, in order: the ack,
 * then what the command produces, then its result. `report_config` reports
 * the running config; `reload_config` succeeds with an empty pipe change (a
 * simulated agent runs no pipes); `scan` and `upgrade` fail, saying why,
 * rather than pretending to have done something.
 */
export function answerCommand(frame: CommandFrame, running: SimRunning, now = Date.now()): AgentToFusionFrame[] {
  const id = frame.command_id;
  const ack: AgentToFusionFrame = { type: 'command_ack', command_id: id };
  if (frame.expires_at !== null && frame.expires_at <= now) {
    return [ack, { type: 'command_result', command_id: id, status: 'failed', error: 'the command expired before it could run' }];
  }
  const source = running.signature === null ? 'none' : 'remote';
  switch (frame.command_type) {
    case 'report_config':
      return [
        ack,
        { type: 'config_report', command_id: id, signature: running.signature, revision: running.revision, source, document: running.document },
        { type: 'command_result', command_id: id, status: 'succeeded', output: { signature: running.signature, revision: running.revision, source } },
      ];
    case 'reload_config':
      return [
        ack,
        { type: 'command_result', command_id: id, status: 'succeeded', output: { added: [], removed: [], restarted: [], signature: running.signature, source } },
      ];
    case 'scan':
      return [ack, { type: 'command_result', command_id: id, status: 'failed', error: 'a simulated agent runs no pipes, so it has nothing to scan' }];
    case 'upgrade':
      return [ack, { type: 'command_result', command_id: id, status: 'failed', error: 'a simulated agent cannot install packages' }];
    case 'diagnostics':
      return [ack, { type: 'command_result', command_id: id, status: 'failed', error: 'a simulated agent has no host, logs or pipes to collect' }];
    default:
      return [ack, { type: 'command_result', command_id: id, status: 'failed', error: `unsupported command type "${frame.command_type}"` }];
  }
}
