/**
 * Handles `config` frames. A patch is applied to the document the agent runs,
 * which must be the patch's base; when the base is not what runs, or the
 * patched document does not reproduce the target signature, the agent asks
 * for the full document (`config_request`) instead of guessing. An empty
 * patch to the running signature with new `secrets` is a rotation: the same
 * document is applied again with the new values.
 */
import type { Logger } from '../../shared/logger.js';
import { applyDocumentPatch, type Operation } from '../../shared/config/index.js';
import { ApplierClosedError, type ConfigApplier } from '../config/config-applier.js';
import type { FrameHandler } from './frame-dispatcher.js';
import { applyRemoteConfig } from './remote-config.js';

export function createConfigFrameHandler(deps: { applier: ConfigApplier; agentId: string; logger: Logger }): FrameHandler<'config'> {
  const { applier, agentId, logger } = deps;
  return (frame, channel) =>
    applier
      .exclusive(async () => {
        let document: unknown = frame.encoding === 'full' ? frame.document : undefined;
        if (frame.encoding === 'patch') {
          const running = applier.running;
          const outcome =
            running.signature === frame.base_signature && running.document !== null
              ? applyDocumentPatch(running.document, frame.patch as Operation[], frame.signature)
              : { ok: false as const, reason: `patch base ${frame.base_signature} is not the running config (${running.signature ?? 'none'})` };
          if (!outcome.ok) {
            logger.info({ signature: frame.signature, reason: outcome.reason }, 'cannot use the config patch; asking for the full document');
            channel.send({ type: 'config_request', current_signature: running.signature, reason: outcome.reason.slice(0, 1024) });
            return;
          }
          document = outcome.document;
        }
        await applyRemoteConfig({ applier, agentId, report: (status) => channel.send(status) }, {
          revision: frame.revision,
          signature: frame.signature,
          document,
          secrets: frame.secrets,
          secretsDigest: frame.secrets_digest,
        });
      })
      .catch((err: unknown) => {
        if (err instanceof ApplierClosedError) return; // stopping: the config is dropped, Fusion resends it on the next hello
        throw err;
      });
}
