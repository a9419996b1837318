import { expect } from 'chai';
import { diagnosticsBundle, redactSecrets } from '../../agent/commands/diagnostics.js';
import { LogTail } from '../../shared/log-tail.js';
import { createLogger } from '../../shared/logger.js';
import { DIAGNOSTICS_MAX_BYTES } from '../../shared/protocol/index.js';

describe('diagnostics bundle', () => {
  it('keeps the newest log lines in a ring, each cut to its limit', () => {
    const tail = new LogTail(3, 5);
    tail.write('a\nb\n');
    tail.write('c\ndddddddd\ne\n');
    expect(tail.lines()).to.deep.equal(['c', 'ddddd…', 'e']);
    expect(tail.lines(2)).to.deep.equal(['ddddd…', 'e']);
    expect(tail.lines(0)).to.deep.equal([]);
  });

  it("tees an agent logger's lines into the tail, secrets redacted as on stdout", () => {
    const tail = new LogTail();
    const log = createLogger('t', 'info', tail);
    log.info({ token: 'secret-value' }, 'hello');
    log.debug('not at this level');
    expect(tail.lines()).to.have.length(1);
    expect(tail.lines()[0]).to.include('hello').and.not.include('secret-value');
  });

  it('redacts secret-looking keys at any depth and stays under the size bound', () => {
    expect(redactSecrets({ senders: { s: { credential: { key: 'k' }, uri: 'u' } }, list: [{ password: 'p' }] })).to.deep.equal({
      senders: { s: { credential: '[redacted]', uri: 'u' } },
      list: [{ password: '[redacted]' }],
    });
    const huge = Array.from({ length: 1000 }, (_, i) => `${i} ${'x'.repeat(2000)}`);
    const bundle = diagnosticsBundle(
      { agentId: 'a', config: { signature: null, revision: null, source: 'none', document: null }, pipes: [], logLines: (n) => huge.slice(-n) },
      1000,
    );
    expect(Buffer.byteLength(JSON.stringify(bundle))).to.be.at.most(DIAGNOSTICS_MAX_BYTES);
    const lines = bundle.log_tail as string[];
    expect(lines.length).to.be.greaterThan(100);
    expect(lines.at(-1)).to.match(/^999 /);
  });
});
