import WebSocket from 'ws';
import {
  AGENT_ID_HEADER,
  CONTROL_WS_PATH,
  FusionToAgentFrame,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  type AgentToFusionFrame,
  type FusionToAgentFrame as FusionFrame,
  type HelloFrame,
} from '../../shared/protocol/index.js';

type FrameOf<T extends FusionFrame['type']> = Extract<FusionFrame, { type: T }>;

/**
 * A raw protocol client: it speaks frames built from shared/protocol and
 * nothing else, so tests can drive Fusion step by step, or send malformed frames.
 */
export class RawAgentClient {
  readonly frames: FusionFrame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  /** Called with each credential Fusion hands over (`welcome`, `credential`). */
  onCredential: ((credential: string) => void) | undefined;
  private readonly waiters: Array<() => void> = [];
  private cursor = 0;

  private constructor(readonly agentId: string, readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const decoded = decodeFrame(FusionToAgentFrame, data as Buffer);
      if (decoded.ok) {
        this.frames.push(decoded.frame);
        const credential = decoded.frame.type === 'welcome' || decoded.frame.type === 'credential' ? decoded.frame.credential : undefined;
        if (credential) this.onCredential?.(credential);
      }
      else this.frames.push({ type: 'error', code: 'client_decode_failed', message: decoded.message });
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.wake();
    });
  }

  /**
   * Credentials raw clients were handed, by Fusion URL and agent id, so a
   * later client of the same id presents its credential as a real agent
   * does (an enrollment token only enrols an id once).
   */
  private static readonly credentials = new Map<string, string>();

  /**
   * Connects as an agent that keeps its credential: with the one an earlier
   * raw client of `agentId` got from this Fusion, else with `enrollmentToken`
   * (it then enrols at `hello`). A credential Fusion does not know (another
   * Fusion on a reused port) is dropped for the enrollment token, as an agent does.
   */
  static async connectAs(
    url: string,
    agentId: string,
    enrollmentToken: string,
    extraHeaders: Record<string, string> = {},
    options: WebSocket.ClientOptions = {},
  ): Promise<RawAgentClient> {
    const key = `${url}|${agentId}`;
    const credential = RawAgentClient.credentials.get(key);
    if (credential === undefined) return RawAgentClient.connect(url, agentId, enrollmentToken, extraHeaders, options);
    try {
      return await RawAgentClient.connect(url, agentId, credential, extraHeaders, options);
    } catch (err) {
      if ((err as { code?: string }).code !== 'credential_unknown') throw err;
      RawAgentClient.credentials.delete(key);
      return RawAgentClient.connect(url, agentId, enrollmentToken, extraHeaders, options);
    }
  }

  /** The credential raw clients of `agentId` were handed by the Fusion at `url`, if any. */
  static credentialOf(url: string, agentId: string): string | undefined {
    return RawAgentClient.credentials.get(`${url}|${agentId}`);
  }

  /** Opens a socket; rejects with the HTTP `status` and the body's error `code` when the upgrade is refused. */
  static connect(
    url: string,
    agentId: string,
    token: string,
    extraHeaders: Record<string, string> = {},
    options: WebSocket.ClientOptions = {},
  ): Promise<RawAgentClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${CONTROL_WS_PATH}`, {
      ...options,
      headers: { authorization: `Bearer ${token}`, [AGENT_ID_HEADER]: agentId, ...extraHeaders },
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        const client = new RawAgentClient(agentId, ws);
        client.onCredential = (credential) => RawAgentClient.credentials.set(`${url}|${agentId}`, credential);
        resolve(client);
      });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        // A server that dies mid-answer ends the body with 'close' and no 'end'.
        res.once('close', () => {
          let code: string | undefined;
          try {
            code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
          } catch {
            code = undefined;
          }
          reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${code ?? ''}`), { status: res.statusCode, code }));
          ws.terminate();
        });
      });
      ws.once('error', reject);
    });
  }

  send(frame: AgentToFusionFrame): void {
    this.ws.send(encodeFrame(frame));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Sends `hello` with the given running config and waits for `welcome`. */
  async hello(config: Partial<HelloFrame['config']> = {}, extra: Partial<HelloFrame> = {}): Promise<FrameOf<'welcome'>> {
    this.send({
      type: 'hello',
      protocol_version: PROTOCOL_VERSION,
      agent_id: this.agentId,
      agent_version: '0.0.0-test',
      hostname: 'test-host',
      capabilities: ['patch'],
      config: { signature: null, revision: null, source: 'none', ...config },
      ...extra,
    });
    return this.next('welcome');
  }

  /** The next frame of `type` not yet consumed (earlier frames of other types are skipped). */
  async next<T extends FusionFrame['type']>(type: T, timeoutMs = 5000): Promise<FrameOf<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++]!;
        if (frame.type === type) return frame as FrameOf<T>;
      }
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode} ${this.closeReason}) before a ${type} frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} frame within ${timeoutMs} ms; got ${this.frames.map((f) => f.type).join(', ') || 'nothing'}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with the close code once the socket is closed. */
  async closed(timeoutMs = 5000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === undefined) {
      if (Date.now() > deadline) throw new Error(`socket still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closeCode;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
