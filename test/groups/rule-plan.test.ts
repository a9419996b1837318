import { expect } from 'chai';
import { parseSelector, matchesSelector } from '../../shared/selector/index.js';
import type { AssignedBy } from '../../server/groups/group-store.js';
import { planRules, type RuleMatcher } from '../../server/groups/rule-plan.js';

const rule = (group: string, text: string): RuleMatcher => {
  const selector = parseSelector(text);
  return { group, matches: (labels) => matchesSelector(selector, labels) };
};
const RULES = [rule('db', 'role=db'), rule('eu', 'region=eu')];

function plan(labels: Record<string, string>, member?: { group_name: string; assigned_by: AssignedBy }) {
  return planRules([{ agent_id: 'a', labels }], () => member, RULES);
}

describe('group rule precedence (planRules)', () => {
  it('an agent in no group joins the one group whose rule matches; two matching rules: none, both conflicts', () => {
    expect(plan({ role: 'db' })).to.deep.equal({ steps: [{ agent_id: 'a', action: 'join', group: 'db' }], conflicts: [] });
    expect(plan({ role: 'web' })).to.deep.equal({ steps: [], conflicts: [] });
    const both = plan({ role: 'db', region: 'eu' });
    expect(both.steps).to.deep.equal([]);
    expect(both.conflicts.map((c) => [c.group, c.held_by])).to.deep.equal([['db', null], ['eu', null]]);
  });

  it('a membership made any other way is never moved; a rule member stays while its rule matches and leaves (and moves) when it does not', () => {
    for (const assigned_by of ['admin', 'enrollment', 'bootstrap'] as const) {
      const held = plan({ role: 'db' }, { group_name: 'nfs', assigned_by });
      expect(held.steps, assigned_by).to.deep.equal([]);
      expect(held.conflicts[0]).to.include({ group: 'db', held_by: 'nfs' });
    }
    const stays = plan({ role: 'db', region: 'eu' }, { group_name: 'eu', assigned_by: 'rule' });
    expect(stays.steps).to.deep.equal([]);
    expect(stays.conflicts).to.have.length(1);
    expect(stays.conflicts[0]).to.include({ group: 'db', held_by: 'eu' });
    expect(plan({ role: 'db' }, { group_name: 'eu', assigned_by: 'rule' }).steps).to.deep.equal([
      { agent_id: 'a', action: 'leave', group: 'eu' },
      { agent_id: 'a', action: 'join', group: 'db' },
    ]);
    expect(plan({}, { group_name: 'gone', assigned_by: 'rule' }).steps).to.deep.equal([{ agent_id: 'a', action: 'leave', group: 'gone' }]);
  });
});
