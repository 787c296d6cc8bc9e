#!/usr/bin/env node
// What the chart promises its users, checked on a `helm template` output: the pod runs under
// the restricted security profile, probes ask the admin port, the grace period outlasts the
// drain, the config rolls the pods, the scaler port and the ScaledObjects agree with each other,
// secrets arrive as files where the config reads them, and the PrometheusRule and the Grafana
// dashboard ConfigMap carry the repository's alerts/triggerd.rules.yml and
// dashboards/triggerd.json (the chart reaches them through symbolic links), unchanged.
//
//   node check-render.js --models DIR --case default|full RENDERED
//
// Node 18 and later, CommonJS.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const argv = process.argv.slice(2);
let models = '';
let which = '';
let file = '';
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--models') models = argv[++i];
  else if (argv[i] === '--case') which = argv[++i];
  else file = argv[i];
}
if (!models || !file || (which !== 'default' && which !== 'full')) {
  process.stderr.write('usage: check-render.js --models DIR --case default|full RENDERED\n');
  process.exit(2);
}
const YAML = createRequire(path.join(path.resolve(models), 'package.json'))('yaml');

const objects = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
  .map((doc) => doc.toJS())
  .filter((object) => object);
const all = (kind) => objects.filter((object) => object.kind === kind);
const one = (kind) => {
  const found = all(kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
};

const failures = [];
function check(description, test) {
  try {
    const problem = test();
    if (problem) failures.push(`${description}: ${problem}`);
    else process.stdout.write(`ok   ${description}\n`);
  } catch (error) {
    failures.push(`${description}: ${error.message}`);
  }
}
const sortedKeys = (value) => {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortedKeys(value[key])]));
};
const same = (got, want) =>
  JSON.stringify(got) === JSON.stringify(want) ? '' : `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;

// The files of the repository that the chart must carry as they are.
const root = path.resolve(__dirname, '..', '..');
const rulesFile = path.join(root, 'alerts', 'triggerd.rules.yml');
const dashboardFile = path.join(root, 'dashboards', 'triggerd.json');

// The chart's ConfigMaps: triggerd's config, and the Grafana dashboard when enabled.
const configMaps = all('ConfigMap');
const withKey = (key) => {
  const found = configMaps.filter((cm) => cm.data && key in cm.data);
  if (found.length > 1) {
    throw new Error(`expected at most one ConfigMap with ${key}, found ${found.length}`);
  }
  return found[0];
};
const configMap = withKey('triggerd.yaml');
if (!configMap) throw new Error('no ConfigMap with triggerd.yaml');
const dashboardMap = withKey('triggerd.json');

const deployment = one('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const service = one('Service');
const config = YAML.parse(configMap.data['triggerd.yaml']);
const portNumber = (name) => (container.ports.find((p) => p.name === name) || {}).containerPort;

check('the container runs non-root, read-only, without privileges or capabilities', () => {
  const sc = container.securityContext;
  const problems = [];
  if (sc.runAsNonRoot !== true && pod.securityContext.runAsNonRoot !== true) problems.push('may run as root');
  if (sc.readOnlyRootFilesystem !== true) problems.push('root file system is writable');
  if (sc.allowPrivilegeEscalation !== false) problems.push('privilege escalation allowed');
  if (same(sc.capabilities && sc.capabilities.drop, ['ALL'])) problems.push('capabilities not all dropped');
  const seccomp = (sc.seccompProfile || pod.securityContext.seccompProfile || {}).type;
  if (seccomp !== 'RuntimeDefault') problems.push(`seccomp ${seccomp}`);
  return problems.join(', ');
});

check('liveness asks /livez and readiness /readyz on the admin port', () =>
  same([container.livenessProbe.httpGet, container.readinessProbe.httpGet, portNumber('admin')],
       [{ path: '/livez', port: 'admin' }, { path: '/readyz', port: 'admin' }, 9090]));

check('triggerd listens where the Service and the probes look', () =>
  same([config.server.listen, config.server.admin_listen],
       [`0.0.0.0:${portNumber('webhook')}`, `0.0.0.0:${portNumber('admin')}`]));

check('triggerd runs the mounted config', () => {
  const mount = container.volumeMounts.find((m) => m.name === 'config');
  return same([container.args, mount.mountPath], [['run', '-c', '/etc/triggerd/triggerd.yaml'], '/etc/triggerd']);
});

check('the config checksum annotation is the hash of the rendered config', () => {
  const want = require('crypto').createHash('sha256')
    .update(configMap.data['triggerd.yaml'].replace(/\n$/, '')).digest('hex');
  return same(deployment.spec.template.metadata.annotations['checksum/config'], want);
});

if (which === 'default') {
  check('the grace period is the default shutdown_timeout (25s) plus 10 s', () =>
    same(pod.terminationGracePeriodSeconds, 35));
  check('no scaler port without the scaler', () =>
    same([config.server.scaler_listen, portNumber('scaler'), service.spec.ports.map((p) => p.name)],
         [undefined, undefined, ['webhook', 'admin']]));
  check('no PrometheusRule and no dashboard ConfigMap unless asked for', () =>
    same([all('PrometheusRule').length, configMaps.length], [0, 1]));
} else {
  check('the grace period is the one set, above shutdown_timeout 40s', () =>
    same([pod.terminationGracePeriodSeconds, config.server.shutdown_timeout], [50, '40s']));

  check('the scaler listens on 0.0.0.0:9091 and the Service exposes it', () => {
    const port = service.spec.ports.find((p) => p.name === 'scaler');
    return same([config.server.scaler_listen, portNumber('scaler'), port && port.port, port && port.targetPort],
                ['0.0.0.0:9091', 9091, 9091, 'scaler']);
  });

  check('one external-push ScaledObject per function, on the Service\'s scaler address', () => {
    const address = `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:9091`;
    const got = all('ScaledObject').map((so) => ({
      namespace: so.metadata.namespace,
      target: so.spec.scaleTargetRef,
      replicas: [so.spec.minReplicaCount, so.spec.maxReplicaCount, so.spec.cooldownPeriod],
      triggers: so.spec.triggers,
    }));
    const trigger = (fn) => [{ type: 'external-push', metadata: { scalerAddress: address, function: fn } }];
    return same(got, [
      { namespace: service.metadata.namespace,
        target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'resize-image' },
        replicas: [0, 50, 60], triggers: trigger('resize-image') },
      { namespace: 'functions',
        target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'email-sender' },
        replicas: [1, 10, 120], triggers: trigger('send-email') },
    ]);
  });

  check('no HorizontalPodAutoscaler beside the ScaledObjects', () => same(all('HorizontalPodAutoscaler').length, 0));

  check('every secret file the config reads is in a mounted Secret', () => {
    const mounts = container.volumeMounts.filter((m) => m.name.startsWith('secret-'));
    const volumes = new Map(pod.volumes.map((v) => [v.name, v]));
    const files = (JSON.stringify(config).match(/"[A-Za-z_]+_file":"[^"]+"/g) || [])
      .map((pair) => JSON.parse(`{${pair}}`)).map((o) => Object.values(o)[0]);
    if (files.length === 0) return 'the config reads no secret file';
    const missing = files.filter((f) => !mounts.some((m) => f.startsWith(`${m.mountPath}/`) &&
      volumes.get(m.name) && volumes.get(m.name).secret && m.readOnly === true));
    return missing.length ? `not mounted: ${missing.join(', ')}` : '';
  });

  check('the ServiceMonitor scrapes /metrics on the admin port', () => {
    const endpoint = one('ServiceMonitor').spec.endpoints[0];
    return same([endpoint.port, endpoint.path, endpoint.interval], ['admin', '/metrics', '15s']);
  });

  check('the PrometheusRule holds the rule groups of alerts/triggerd.rules.yml, as they are', () => {
    const want = YAML.parse(fs.readFileSync(rulesFile, 'utf8')).groups;
    if (!Array.isArray(want) || want.length === 0) return `${rulesFile} has no rule groups`;
    // helm's toYaml writes keys in sorted order: compare the data, not the order of keys.
    return same(sortedKeys(one('PrometheusRule').spec.groups), sortedKeys(want));
  });

  check('the PrometheusRule carries the labels the Prometheus selects rules by', () => {
    const rule = one('PrometheusRule');
    return same([rule.metadata.labels.release, rule.metadata.namespace],
                ['kube-prometheus-stack', service.metadata.namespace]);
  });

  check('the dashboard ConfigMap holds dashboards/triggerd.json byte for byte', () => {
    if (!dashboardMap) return 'no ConfigMap with triggerd.json';
    const got = dashboardMap.data['triggerd.json'];
    const want = fs.readFileSync(dashboardFile, 'utf8');
    if (got !== want) return `it differs from ${dashboardFile} (${got.length} and ${want.length} characters)`;
    const dashboard = JSON.parse(got);
    return same([dashboard.uid, typeof dashboard.panels.length], ['triggerd', 'number']);
  });

  check('the dashboard ConfigMap is where Grafana\'s sidecar looks, with its label and folder', () =>
    same([dashboardMap.metadata.namespace, dashboardMap.metadata.labels.grafana_dashboard,
          dashboardMap.metadata.annotations.grafana_folder],
         ['monitoring', '1', 'Events']));

  check('the PodDisruptionBudget selects the pods', () =>
    same(one('PodDisruptionBudget').spec.selector.matchLabels, deployment.spec.selector.matchLabels));
}

check('the test pod asks /readyz through the Service', () => {
  const testPod = all('Pod').find((p) => (p.metadata.annotations || {})['helm.sh/hook'] === 'test');
  if (!testPod) return 'no helm test pod';
  const script = testPod.spec.containers[0].command.join(' ');
  const url = `http://${service.metadata.name}:${portNumber('admin')}/readyz`;
  return script.includes(url) ? '' : `the script does not ask ${url}`;
});

for (const failure of failures) process.stdout.write(`FAIL ${failure}\n`);
process.exit(failures.length === 0 ? 0 : 1);
