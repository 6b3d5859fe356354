import test from 'ava';
import {
  domainStateString, formatBlockList, formatInfo, formatList, formatListLong, formatNetworkList, formatNodeToCpu,
  formatSchedCredit, formatUptime, formatUptimeList, formatVcpuList,
} from '../src/index.js';

test('xm list: columns, 8-vs-9 time quirk, sorted by name, blank id/state for halted', (t) => {
  const doms = [
    ['domain', ['domid', 3], ['name', 'vm1'], ['memory', 256], ['vcpus', 1], ['state', '-b----'], ['cpu_time', 12.34]],
    ['domain', ['domid', 0], ['name', 'Domain-0'], ['memory', 1907], ['vcpus', 4], ['online_vcpus', 2], ['state', 'r-----'], ['cpu_time', 2012.8]],
    ['domain', ['name', 'managed'], ['memory', 64], ['vcpus', 1]],
  ];
  t.is(formatList(doms), [
    'Name                                        ID   Mem VCPUs      State   Time(s)',
    'Domain-0                                     0  1907     2     r-----   2012.8',
    'managed                                           64     1                 0.0',
    'vm1                                          3   256     1     -b----     12.3',
    '',
  ].join('\n'));
  // --long: sorted by name, each record pretty-printed
  t.is(formatListLong([doms[0]!, doms[1]!]), formatListLong([doms[1]!, doms[0]!]));
  t.true(formatListLong(doms).startsWith('(domain\n    (domid 0)\n    (name Domain-0)'));
});

test('state string from flags', (t) => {
  t.is(domainStateString({ running: true }), 'r-----');
  t.is(domainStateString({ blocked: true }), '-b----');
  t.is(domainStateString({ paused: true, blocked: true }), '-bp---');
  t.is(domainStateString({ shutdown: true }), '---s--');
  t.is(domainStateString({ shutdown: true, crashed: true }), '----c-');
  t.is(domainStateString({ dying: true }), '-----d');
  t.is(domainStateString({}), '------');
});

test('xm info: %-23s: value, (none), node_to_cpu continuation', (t) => {
  const out = formatInfo([['system', 'Linux'], ['host', 'myhost'], ['nr_cpus', 4], ['node_to_cpu', formatNodeToCpu([[0, 1, 2, 3], [4, 5, 7]])], ['xen_extra'], ['xend_config_format', 4]]);
  t.is(out, [
    'host                   : myhost',
    'nr_cpus                : 4',
    'node_to_cpu            : node0:0-3',
    '                         node1:4-5,7',
    'xen_extra              : (none)',
    'xend_config_format     : 4',
    '',
  ].join('\n'));
});

test('xm vcpu-list: two spaces before time, offline and not-running vcpus, affinity', (t) => {
  const info = ['domain', ['domid', 0], ['name', 'Domain-0'], ['vcpu_count', 3],
    ['vcpu', ['number', 0], ['online', 1], ['blocked', 0], ['running', 1], ['cpu_time', 1000.2], ['cpu', 1], ['cpumap', [0, 1]]],
    ['vcpu', ['number', 1], ['online', 1], ['blocked', 1], ['running', 0], ['cpu_time', 5], ['cpu', 0], ['cpumap', [0, 2, 3]]],
    ['vcpu', ['number', 2], ['online', 0], ['blocked', 0], ['running', 0], ['cpu_time', 0], ['cpu', 0], ['cpumap', []]]];
  const halted = ['domain', ['domid', 5], ['name', 'vm5'], ['vcpu', ['number', 0], ['online', 1], ['cpu', -1], ['cpu_time', 0], ['cpumap', [0, 1]]]];
  t.is(formatVcpuList([info, halted], 2), [
    'Name                                ID  VCPU   CPU State   Time(s) CPU Affinity',
    'Domain-0                             0     0     1   r--    1000.2 any cpu',
    'Domain-0                             0     1     0   -b-       5.0 0,2-3',
    'Domain-0                             0     2     -   --p       0.0 no cpus',
    'vm5                                  5     0                   0.0 any cpu',
    '',
  ].join('\n'));
});

test('xm sched-credit and uptime', (t) => {
  t.is(formatSchedCredit([{ name: 'Domain-0', domid: 0, weight: 256, cap: 0 }, { name: 'vm1', domid: 3, weight: -1, cap: -1 }]), [
    'Name                                ID Weight  Cap',
    'Domain-0                             0    256    0',
    'vm1                                  3     -1   -1',
    '',
  ].join('\n'));
  t.is(formatUptime(3723), ' 1:02:03');
  t.is(formatUptime(86400 + 3723), '1 day,  1:02:03');
  t.is(formatUptime(2 * 86400 + 36123), '2 days, 10:02:03');
  t.is(formatUptimeList([{ name: 'vm1', domid: 3, seconds: 3723 }, { name: 'vm1', domid: 3, seconds: 2 * 86400 + 36123 }]), [
    'Name                                ID Uptime ',
    'vm1                                  3  1:02:03',
    'vm1                                  3 2 days, 10:02:03',
    '',
  ].join('\n'));
  t.is(formatUptimeList([{ name: 'vm1', domid: 3, seconds: 59 }], { short: true, now: new Date(2008, 0, 13, 9, 5, 7) }), ' 09:05:07 up  0:00:59, vm1 (3)\n');
});

test('xm block-list and network-list rows', (t) => {
  t.is(formatBlockList([[2049, [['backend-id', '0'], ['virtual-device', '2049'], ['handle', '2049'], ['state', '4'], ['event-channel', '8'], ['ring-ref', '9'], ['backend', '/local/domain/0/backend/vbd/3/2049']]]]),
    'Vdev  BE handle state evt-ch ring-ref BE-path\n' +
    '2049    0    2049   4      8      9     /local/domain/0/backend/vbd/3/2049  \n');
  t.is(formatNetworkList([[0, [['backend-id', '0'], ['mac', '00:16:3e:00:00:01'], ['handle', '0'], ['state', '4'], ['event-channel', '10'], ['tx-ring-ref', '768'], ['rx-ring-ref', '769'], ['backend', '/local/domain/0/backend/vif/3/0']]]]),
    'Idx BE     MAC Addr.     handle state evt-ch tx-/rx-ring-ref BE-path\n' +
    '0   0  00:16:3e:00:00:01    0     4      10    768  /769     /local/domain/0/backend/vif/3/0  \n');
});
