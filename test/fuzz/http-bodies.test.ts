import { expect } from 'chai';
import fc from 'fast-check';
import { sampleYaml, startFusion, type TestFusion } from '../harness/index.js';
import { documentText, fuzzParameters, hostileName, hostileValue } from './fuzz-runs.js';

/** A request body as it goes on the wire: well-formed JSON of a hostile value, or any text. */
const jsonText = fc.oneof({ weight: 3, arbitrary: hostileValue.map((v) => JSON.stringify(v) ?? 'null') }, { weight: 1, arbitrary: documentText });

interface Route {
  name: string;
  method: string;
  path: (id: string) => string;
  type: string;
  body: fc.Arbitrary<string>;
  /** Authenticate as an agent (enrollment token) instead of as admin. */
  agent?: boolean;
}

const agentId = fc.oneof(fc.constantFrom('node-1', 'node-2'), hostileName.filter((n) => /^[A-Za-z0-9]/.test(n) && n.length < 60));

const routes: Route[] = [
  { name: 'config (YAML)', method: 'POST', path: (id) => `/api/v1/management/agents/${id}/config`, type: 'application/yaml', body: documentText },
  { name: 'config (JSON text)', method: 'POST', path: (id) => `/api/v1/control/configs/${id}`, type: 'application/json', body: jsonText },
  { name: 'config (structured)', method: 'POST', path: (id) => `/api/v1/management/agents/${id}/config/structured`, type: 'application/json', body: jsonText },
  { name: 'group create', method: 'POST', path: () => '/api/v1/management/groups', type: 'application/json', body: fc.oneof(jsonText, documentText.map((template) => JSON.stringify({ name: 'fz', template }))) },
  { name: 'group template', method: 'PUT', path: () => '/api/v1/management/groups/g1/template', type: 'application/yaml', body: documentText },
  { name: 'group member', method: 'PUT', path: (id) => `/api/v1/management/groups/g1/members/${id}`, type: 'application/json', body: jsonText },
  { name: 'fusion.yaml', method: 'POST', path: () => '/api/v1/management/config', type: 'application/yaml', body: documentText },
  { name: 'command', method: 'POST', path: (id) => `/api/v1/management/agents/${id}/command`, type: 'application/json', body: jsonText },
  { name: 'commands (bulk)', method: 'POST', path: () => '/api/v1/management/commands', type: 'application/json', body: jsonText },
  { name: 'poll status', method: 'POST', path: () => '/api/v1/control/configs/status', type: 'application/json', body: jsonText, agent: true },
  { name: 'ingest session', method: 'POST', path: () => '/api/v1/pipe/sessions', type: 'application/json', body: jsonText },
];

describe('fuzz: every HTTP body parser answers 4xx, never 500, and Fusion keeps running', () => {
  let fusion: TestFusion;

  before(async () => {
    fusion = await startFusion();
    const created = await fusion.json('POST', '/api/v1/management/groups', { name: 'g1', template: sampleYaml() });
    expect(created.status).to.equal(201);
  });
  after(() => fusion.stop());

  const send = async (route: Route, id: string, body: string, type = route.type): Promise<number> => {
    const headers: Record<string, string> = { 'content-type': type };
    if (route.agent) headers.authorization = `Bearer ${fusion.enrollmentToken}`;
    const res = await fusion.api(route.path(encodeURIComponent(id)), { method: route.method, headers, body });
    await res.arrayBuffer();
    return res.status;
  };

  for (const route of routes) {
    it(route.name, async () => {
      await fc.assert(
        fc.asyncProperty(agentId, route.body, async (id, body) => {
          const status = await send(route, id, body);
          expect(status, `${route.method} ${route.path(id)} ${JSON.stringify(body).slice(0, 200)}`).to.be.below(500);
        }),
        fuzzParameters(15),
      );
      expect((await fusion.api('/healthz')).status).to.equal(200);
    });
  }

  it('pull with any query string', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('agent_id', 'current_signature', 'group', 'hostname', '__proto__', 'x'), fc.string({ maxLength: 80 })), async (query) => {
        const res = await fetch(`${fusion.url}/api/v1/control/configs/pull?${new URLSearchParams(query).toString()}`, {
          headers: { authorization: `Bearer ${fusion.enrollmentToken}`, 'x-fustor-agent-id': query.agent_id ?? 'node-1' },
        }).catch(() => undefined);
        if (res) {
          await res.arrayBuffer();
          expect(res.status, JSON.stringify(query)).to.be.below(500);
        }
      }),
      fuzzParameters(15),
    );
  });
});
